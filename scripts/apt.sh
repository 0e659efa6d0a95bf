# Sourced by the set-up scripts: apt-get that waits for another apt or dpkg run
# (unattended upgrades, a second set-up in parallel) instead of failing at once on
# its lock. DPkg::Lock::Timeout covers the dpkg lock; the retry covers the lists
# lock that `apt-get update` takes. Bounded: about 10 minutes in all.
apt_get() {
  local try
  for try in $(seq 1 60); do
    if apt-get -o DPkg::Lock::Timeout=600 "$@"; then return 0; fi
    local rc=$?
    # Only a held lock is worth waiting for; anything else fails now.
    if ! fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; then
      return "$rc"
    fi
    printf '[apt] another apt/dpkg run holds the lock; waiting (%s/60)\n' "$try" >&2
    sleep 10
  done
  return 1
}
