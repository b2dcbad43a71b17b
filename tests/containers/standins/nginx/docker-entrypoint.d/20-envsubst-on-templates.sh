#!/bin/sh
# Render $NGINX_ENVSUBST_TEMPLATE_DIR/**/*$NGINX_ENVSUBST_TEMPLATE_SUFFIX into
# $NGINX_ENVSUBST_OUTPUT_DIR with envsubst, substituting ONLY variables that
# are defined in the environment (and match NGINX_ENVSUBST_FILTER, a regex),
# so nginx's own $host, $remote_addr, ... are left alone.
set -e

ME=$(basename "$0")
log() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$ME: $*"; }

template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-}

[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
    log "ERROR: $template_dir exists, but $output_dir is not writable"
    exit 0
fi

defined_envs=$(awk -v filter="$filter" 'BEGIN {
    for (name in ENVIRON) if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/ && name ~ filter) printf "${%s} ", name
}')

find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative_path=${template#"$template_dir"/}
    output_path=$output_dir/${relative_path%"$suffix"}
    mkdir -p "$(dirname "$output_path")"
    log "Running envsubst on $template to $output_path"
    envsubst "$defined_envs" < "$template" > "$output_path"
done
