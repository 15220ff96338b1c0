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
"""Verified, resumable disk copies between compute hosts.

A disk is cut in fixed chunks, each named by its digest (XXH3-128, or
SHA-256: ``protocol.Checksum``). The sender (``sender``, on the source)
reads the disk once, skips holes and chunks of zeros, and sends only the
chunks whose digest differs from what the receiver (``receiver``,
started on the destination over ssh) says it already holds. After the
data the sender hands over every chunk's digest; the receiver reads its
copy back and names the chunks that differ, which the next pass sends
again. The receiver keeps the digests of what it wrote beside the copy,
so a pass cut short resumes where it stopped and a second pass after the
VM stopped sends only what the VM changed (two-phase cold migration).
Neither side imports nova.
"""
