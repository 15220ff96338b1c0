# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""Benchmark: planning time for large drains.

Usage: PYTHONPATH=. python benchmarks/plan_scale.py

Three cases: a 1,000-host cloud with 20,000 VMs drained 100 hosts at a
time (2,000 VMs) and half at a time (10,000 VMs), and 20,000 VMs on
1,000 old hosts planned onto 1,000 new empty hosts.
"""

import sys
import time
import tracemalloc

from nova_migration_ext.contract import policy as drain_policy
from nova_migration_ext.engine import planner

sys.path.insert(0, __file__.rsplit('/', 1)[0])
import synthetic  # noqa: E402


def run(n_hosts, n_servers, n_sources, loaded_hosts=None):
    hosts, servers, sources = synthetic.cloud(n_hosts, n_servers, n_sources,
                                              loaded_hosts=loaded_hosts)
    policy = drain_policy.Policy(allow_downtime=True)   # limits derived
    started = time.perf_counter()
    plan = planner.Planner(hosts, servers, policy).plan(sources)
    elapsed = time.perf_counter() - started
    # Once more with tracemalloc on for the memory (it slows planning).
    tracemalloc.start()
    planner.Planner(hosts, servers, policy).plan(sources)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    totals = plan.to_resource()
    print('hosts=%d vms=%d sources=%d: planned %d moves (%d unplaceable) '
          'in %.2f s, peak %.0f MiB, estimated drain %.1f h'
          % (n_hosts, n_servers, n_sources, totals.move_count,
             len(totals.unplaceable), elapsed, peak / 2 ** 20,
             totals.estimated_seconds / 3600))
    return elapsed


def main(argv):
    run(1000, 20000, 100)
    run(1000, 20000, 500)
    run(2000, 20000, 1000, loaded_hosts=1000)


if __name__ == '__main__':
    main(sys.argv)
