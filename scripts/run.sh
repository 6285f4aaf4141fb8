#!/usr/bin/env bash
# Build M-Store and start it on the checkout's own configuration: var/ms.conf,
# made from etc/ms.conf with the runtime user set to whoever runs this, and
# ms-path var/ under the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
mkdir -p var
# The runtime user: whoever runs this; as root, sms when that user exists
# (a production install has it), else root itself.
user=$(id -un)
if [ "$(id -u)" = 0 ] && id sms >/dev/null 2>&1; then
	user=sms
fi
sed -e "s|^ms-path = .*|ms-path = $PWD/var|" -e "s|^runtime-user = .*|runtime-user = $user|" etc/ms.conf > var/ms.conf
export MS_CONF=$PWD/var/ms.conf
echo "configuration: $MS_CONF"
bin/rc.m-store start
bin/rc.m-store status
echo "stop it with: MS_CONF=$MS_CONF bin/rc.m-store stop"
