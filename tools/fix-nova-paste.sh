#!/bin/bash
# nova's test config looks for $state_path/etc/nova/api-paste.ini and
# state_path defaults to site-packages; the wheel installs the file under
# <venv>/etc/nova. Link the two (idempotent). Usage: fix-nova-paste.sh SITE
SITE=$1
[ -e "$SITE/etc" ] || ln -s ../../../etc "$SITE/etc"
