#!/bin/sh
# what a release script typically records
echo "built at $(date -u +%Y-%m-%dT%H:%M:%SZ) by $(id -un)@$(hostname) in $(pwd)"
echo "uuid $(cat /proc/sys/kernel/random/uuid)"
python3 -c 'import uuid, random; print("python", uuid.uuid4(), random.random())'
