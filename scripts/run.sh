#!/usr/bin/env bash
# Build M-Store and start it on the checkout's own configuration: var/ms.conf,
# made from etc/ms.conf with the runtime user set to whoever runs this, and
# ms-path var/ under the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
mkdir -p var
user=$(id -un)
[ "$(id -u)" = 0 ] && user=sms
sed -e "s|^ms-path = .*|ms-path = $PWD/var|" -e "s|^runtime-user = .*|runtime-user = $user|" etc/ms.conf > var/ms.conf
export MS_CONF=$PWD/var/ms.conf
echo "configuration: $MS_CONF"
bin/rc.m-store start
bin/rc.m-store status
echo "stop it with: MS_CONF=$MS_CONF bin/rc.m-store stop"
