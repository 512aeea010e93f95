#!/bin/sh
# probepilot child watchdog (see child-watchdog.ts): child-watchdog.sh PID START_TIME SIGNAL GRACE_STEPS
# Blocks on stdin until the stack writes "disarm" (it stops the child itself) or dies
# (end of file); then stops PID, if it is still the process that started at START_TIME.
read -r line
[ "$line" = disarm ] && exit 0
same() {
  [ -r "/proc/$1/stat" ] || return 1
  rest=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  state=$(echo "$rest" | cut -d' ' -f1)
  start=$(echo "$rest" | cut -d' ' -f20)
  [ "$state" != Z ] && [ "$start" = "$2" ]
}
same "$1" "$2" || exit 0
kill -s "$3" "$1" 2>/dev/null
i=0
while same "$1" "$2" && [ "$i" -lt "$4" ]; do sleep 0.2; i=$((i + 1)); done
same "$1" "$2" && kill -s KILL "$1" 2>/dev/null
exit 0
