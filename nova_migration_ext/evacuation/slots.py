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
"""Concurrency limits of an evacuation, shared by the executor and the
makespan estimate: per source host, per target host and overall.

A slot is taken when a migration starts and given back when it ends, so
a free slot is filled at once instead of waiting for a whole wave.
"""

import collections


class Slots:
    """Counts running migrations against the policy's limits."""

    def __init__(self, max_per_source, max_per_target, max_total):
        self.max_per_source = max_per_source
        self.max_per_target = max_per_target
        self.max_total = max_total
        self.by_source = collections.Counter()
        self.by_target = collections.Counter()
        self.total = 0

    @classmethod
    def for_policy(cls, policy):
        return cls(policy.max_per_source, policy.max_per_target,
                   policy.max_total)

    @property
    def full(self):
        return self.total >= self.max_total

    def can_start(self, source, target):
        return (self.total < self.max_total and
                self.by_source[source] < self.max_per_source and
                self.by_target[target] < self.max_per_target)

    def take(self, source, target):
        if not self.can_start(source, target):
            raise RuntimeError('no free slot for %s -> %s' % (source, target))
        self.by_source[source] += 1
        self.by_target[target] += 1
        self.total += 1

    def give_back(self, source, target):
        self.by_source[source] -= 1
        self.by_target[target] -= 1
        self.total -= 1
