# The start of every workload script the harness hands the Debian image on a disk with the
# serial vmmd-workload (tests/e2e/lib.sh workload_disk puts this file first; the image's
# vmmd-workload.service runs the whole with bash). Helpers for the console markers the harness
# waits for. Nothing here exits on an error: a workload reports, the harness judges.

# Console output. The console's getty hangs up the tty this service was given when it starts,
# so every line opens ttyAMA0 anew, and never waits on an open or a write for long: a try that
# takes 10 s is reported through the kernel log (its console lines need no tty open); a line
# that cannot be written in 3 tries is lost, and the harness times out on the marker it waits
# for.
exec > >(while IFS= read -r l; do
  for try in 1 2 3; do
    timeout 10 sh -c 'printf "%s\n" "$1" >/dev/ttyAMA0' _ "$l" 2>/dev/null && break
    echo "<3>vmmd-workload: writing a line to ttyAMA0 failed or took 10 s (try $try)" >/dev/kmsg
  done
done) 2>&1

# The console is shared with the autologin shell, which writes terminal queries: each marker
# starts on a line of its own (marker NAME [key=value ...]).
marker() { printf '\n@@%s\n' "$*"; }

uptime_s() { cut -d. -f1 /proc/uptime; }

# @@CPUS online=<list> enabled=<list>: the guest's own view.
cpus() {
  local online enabled
  read -r online </sys/devices/system/cpu/online
  read -r enabled </sys/devices/system/cpu/enabled
  marker "CPUS online=$online enabled=$enabled"
}

# Prints @@CPUS now and whenever the online or the enabled set changes (checked every 0.3 s),
# in the background: a hot-removed CPU leaves the online set before the enabled one, so a line
# read in between must be followed by another. Builtins only (a read with a time-out on a FIFO nobody writes is its sleep): in
# this nested bed a fork and exec every 0.3 s kept an idle guest 40 % busy, which an
# autoscaler rightly read as load.
watch_cpus() {
  cpus
  mkfifo /run/vmmd-cpus-tick
  (
    exec 4<>/run/vmmd-cpus-tick
    read -r online </sys/devices/system/cpu/online
    read -r enabled </sys/devices/system/cpu/enabled
    prev="$online $enabled"
    while :; do
      read -r -t 0.3 -u 4 _
      read -r online </sys/devices/system/cpu/online
      read -r enabled </sys/devices/system/cpu/enabled
      [ "$online $enabled" != "$prev" ] && marker "CPUS online=$online enabled=$enabled"
      prev="$online $enabled"
    done
  ) &
}

# Waits (up to 150 s) for systemd to finish starting up, then prints
# @@DEBIAN-UP state=<systemd's state> target=<multi-user.target> kernel=<release> root=<device>
# eth0=<MAC>, after the jobs and failed units when the state is not "running".
debian_up() {
  local state
  state=$(timeout 150 systemctl is-system-running --wait)
  if [ "$state" != running ]; then
    systemctl list-jobs --no-pager | sed 's/^/@@JOBS /'
    systemctl --failed --no-pager | sed 's/^/@@FAILED-UNITS /'
  fi
  marker "DEBIAN-UP state=$state target=$(systemctl is-active multi-user.target)" \
    "kernel=$(uname -r) root=$(findmnt -no SOURCE /)" \
    "eth0=$(cat /sys/class/net/eth0/address 2>/dev/null)"
}

# watchdog DEADLINE: if workload_end has not run when the guest's uptime reaches DEADLINE (s),
# the kernel lists its blocked tasks (sysrq w), then every task's state and the interrupt
# counts go to the console, then @@WATCHDOG. Shell builtins only once started: it must work
# when forking or the disk does not.
watchdog() {
  mkfifo /run/vmmd-watchdog
  (
    exec 3<>/run/vmmd-watchdog
    while :; do
      read -r -t 5 -u 3 _
      read -r up _ </proc/uptime
      [ "${up%.*}" -ge "$1" ] || continue
      [ -e /run/vmmd-workload.done ] && break
      echo 8 >/proc/sys/kernel/printk
      echo w >/proc/sysrq-trigger
      for f in /proc/[0-9]*/stat; do
        read -r st <"$f" || continue
        wchan=
        read -r wchan <"${f%stat}wchan" || [ -n "$wchan" ] || wchan=?
        comm=${st#*(} rest=${st##*) }
        echo "@@TASK ${st%% *} ${comm%)*} ${rest%% *} wchan=$wchan" >/dev/console
      done
      while IFS= read -r l; do echo "@@IRQ $l" >/dev/console; done </proc/interrupts
      echo "@@WATCHDOG" >/dev/console
      break
    done
  ) &
}

# control: the word the harness serves on 10.0.2.2:5003 (lib.sh control_serve / control_set),
# or nothing when it cannot be reached within 10 s. A workload that runs "while the harness
# scales" asks it whether to go on.
control() {
  timeout 10 bash -c 'read -r w </dev/tcp/10.0.2.2/5003 && echo "$w"' 2>/dev/null
}

# send_checked FILE PORT: sends FILE to L1 (10.0.2.2) on TCP PORT, then the MD5 of FILE on the
# same connection, which L1 checks (tests/e2e/lib.sh chunk_receiver). Fails when the connection
# fails or takes more than 60 s.
send_checked() {
  md5sum <"$1" | cut -c1-32 >"$1.md5"
  timeout 60 bash -c 'cat "$1" "$1.md5" >"/dev/tcp/10.0.2.2/$2"' _ "$1" "$2"
}

# The end of a workload: @@WORKLOAD-END, the watchdog stands down, and the script stays (its
# service with it) so that watch_cpus goes on reporting until the VM stops.
workload_end() {
  : >/run/vmmd-workload.done
  marker WORKLOAD-END
  wait
}
