# Shared by tests/redis/test_redis.sh, tests/fleet/run.sh and
# bench/fleet/run.sh: a redis-server of our own on a free loopback port.
# Sourced; needs $tmp (a scratch directory).

# A free loopback TCP port (bind to 0, read it back).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_redis: sets redis_port and redis_pid; no persistence, loopback
# only; waits until it answers PING.
start_redis() {
    redis_port=${redis_port:-$(free_port)}
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --dir "$tmp" --logfile "$tmp/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do
        redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "FAIL: redis-server did not start on port $redis_port"
    cat "$tmp/redis.log"
    return 1
}

stop_redis() {
    if [ -n "${redis_pid:-}" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
        redis_pid=
    fi
}
