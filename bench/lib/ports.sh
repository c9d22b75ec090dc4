# Sourced by the bench scripts.
#
# free_port: a loopback TCP port that nothing listens on, below the kernel's ephemeral range. Ports
# in that range are handed out as local ports of outgoing connections (wrk's, the proxies'), so one
# that looks free when probed can be taken a moment later and a server's bind then fails.
free_port() {
  local low span port
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  span=$(( low > 11000 ? low - 10000 : 1000 ))
  while true; do
    port=$(( 10000 + RANDOM % span ))
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "$port"; return; }
  done
}
