#!/bin/sh
# nginx image entrypoint hook, run after 20-envsubst-on-templates.sh has rendered conf.d: serve
# the TLS production port only when docker-compose.yml mounted a certificate and its key
# (TLS_CERT_FILE, TLS_KEY_FILE). Unset, both mounts are /dev/null, and the TLS site is dropped.
set -eu

cert=/etc/nginx/certs/tls.crt
key=/etc/nginx/certs/tls.key
site=/etc/nginx/conf.d/tls.conf

if [ -s "$cert" ] && [ -s "$key" ]; then
    if [ ! -r "$cert" ] || [ ! -r "$key" ]; then
        echo "$0: TLS_CERT_FILE or TLS_KEY_FILE is not readable by nginx (uid $(id -u))." \
             "Make it readable by that user, e.g. chgrp $(id -g) FILE && chmod 640 FILE." >&2
        exit 1
    fi
    echo "$0: TLS on, with the mounted certificate"
elif [ -s "$cert" ] || [ -s "$key" ]; then
    echo "$0: only one of TLS_CERT_FILE and TLS_KEY_FILE is set: set both for TLS, or neither." >&2
    exit 1
else
    rm -f "$site"
    echo "$0: TLS off: TLS_CERT_FILE and TLS_KEY_FILE are not set"
fi
