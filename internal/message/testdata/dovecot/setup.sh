#!/bin/sh
# Sets up a private, pre-authenticated Dovecot imap for TestDovecot* (the
# differential tests of internal/message) without installing or starting
# anything system-wide: the Debian packages are downloaded with apt-get and
# unpacked under DIR, and a script runs `imap` on stdin/stdout as nobody.
#
#   sh internal/message/testdata/dovecot/setup.sh /tmp/dc
#   export MSTORE_DOVECOT_IMAP=/tmp/dc/run-imap.sh MSTORE_DOVECOT_MAILDIR=/tmp/dc/mail/INBOX
#   go test ./internal/message/ -run Dovecot
#   MSTORE_DOVECOT_N="1500 7" go test ./internal/message/ -run DovecotGenerated   # more, other seed
#
# Needs root (to drop to nobody), apt-get and setpriv. Tested with Debian 12's
# Dovecot 2.3.19.
set -eu
dir=${1:?usage: setup.sh DIR}
mkdir -p "$dir/pkg" "$dir/run" "$dir/mail/INBOX/cur" "$dir/mail/INBOX/new" "$dir/mail/INBOX/tmp"
cd "$dir/pkg"
apt-get download dovecot-core dovecot-imapd
for f in *.deb; do dpkg-deb -x "$f" "$dir/root"; done
cat > "$dir/dovecot.conf" <<CONF
base_dir = $dir/run
mail_location = maildir:$dir/mail/INBOX:LAYOUT=fs
log_path = $dir/log
protocols = imap
ssl = no
default_login_user = nobody
default_internal_user = nobody
first_valid_uid = 0
first_valid_gid = 0
mail_uid = nobody
mail_gid = nogroup
CONF
cat > "$dir/run-imap.sh" <<RUN
#!/bin/sh
export LD_LIBRARY_PATH=$dir/root/usr/lib/dovecot
cd $dir
exec setpriv --reuid=nobody --regid=nogroup --clear-groups env USER=test HOME=$dir \
	$dir/root/usr/bin/doveconf -c $dir/dovecot.conf -m imap -e $dir/root/usr/lib/dovecot/imap
RUN
chmod +x "$dir/run-imap.sh"
chmod -R a+rwX "$dir"
echo "export MSTORE_DOVECOT_IMAP=$dir/run-imap.sh MSTORE_DOVECOT_MAILDIR=$dir/mail/INBOX"
