#!/bin/sh
# Read the greeting at start: changing it needs a restart.
echo "web: starting, greeting is $(cat /app/greeting.txt)"
mkdir -p /srv/www
exec httpd -f -v -p 8080 -h /srv/www
