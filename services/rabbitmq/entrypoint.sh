#!/bin/sh
# Entry point of the rabbitmq container (docker-compose.prod.yml), run as root before the image's
# own: writes the definitions RabbitMQ imports on every boot from the environment, then hands
# over. An administrator (setup and the management UI only) and the application's user, with
# rights on the `switchboard` vhost alone. With definitions to import, RabbitMQ creates no
# default `guest` user on a new node.
set -eu
: "${RABBITMQ_ADMIN_USER:?set RABBITMQ_ADMIN_USER}"
: "${RABBITMQ_ADMIN_PASSWORD:?set RABBITMQ_ADMIN_PASSWORD}"
: "${RABBITMQ_APP_USER:?set RABBITMQ_APP_USER}"
: "${RABBITMQ_APP_PASSWORD:?set RABBITMQ_APP_PASSWORD}"
vhost=switchboard
# They are written into JSON here and into URLs by Compose: letters and digits only.
for value in "$RABBITMQ_ADMIN_USER" "$RABBITMQ_ADMIN_PASSWORD" "$RABBITMQ_APP_USER" \
    "$RABBITMQ_APP_PASSWORD"; do
    case "$value" in
    *[!A-Za-z0-9]*)
        echo "rabbitmq: user names and passwords must be letters and digits only" >&2
        exit 2
        ;;
    esac
done
if [ "$RABBITMQ_ADMIN_USER" = "$RABBITMQ_APP_USER" ]; then
    echo "rabbitmq: the application's user must not be the administrator" >&2
    exit 2
fi
# In the container's own filesystem, not the data volume; readable by RabbitMQ alone.
: "${SWITCHBOARD_RABBITMQ_DIR:=/etc/rabbitmq/switchboard}"
: "${RABBITMQ_CONF_D:=/etc/rabbitmq/conf.d}"
dir=$SWITCHBOARD_RABBITMQ_DIR
umask 077
mkdir -p "$dir"
cat > "$dir/definitions.json" <<JSON
{
  "users": [
    {"name": "$RABBITMQ_ADMIN_USER", "password": "$RABBITMQ_ADMIN_PASSWORD", "tags": "administrator"},
    {"name": "$RABBITMQ_APP_USER", "password": "$RABBITMQ_APP_PASSWORD", "tags": "management"}
  ],
  "vhosts": [{"name": "$vhost"}],
  "permissions": [
    {"user": "$RABBITMQ_APP_USER", "vhost": "$vhost", "configure": ".*", "write": ".*", "read": ".*"}
  ]
}
JSON
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then
    chown -R rabbitmq:rabbitmq "$dir"
fi
umask 022
printf 'load_definitions = %s/definitions.json\n' "$dir" > "$RABBITMQ_CONF_D/90-switchboard.conf"
unset RABBITMQ_ADMIN_PASSWORD RABBITMQ_APP_PASSWORD
exec docker-entrypoint.sh "$@"
