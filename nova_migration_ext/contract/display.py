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
"""How the CLI and Horizon write an evacuation's numbers.

Standard library only: both audiences import it.
"""


def duration(seconds):
    """'1h05m' or '4m10s', as an ETA or an estimate is shown."""
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return '%dh%02dm' % (hours, minutes)
    return '%dm%02ds' % (minutes, secs)


def size(num_bytes):
    """'20.0 GiB' or '512 B': a size in binary units, as disks are shown."""
    value = float(num_bytes or 0)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(value) < 1024:
            break
        value /= 1024
    else:
        unit = 'PiB'
    if unit == 'B':
        return '%d B' % value
    return '%.1f %s' % (value, unit)
