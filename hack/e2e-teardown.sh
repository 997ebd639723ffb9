# Recording the machine before `up` and restoring it at `down` (sourced by
# e2e-cluster.sh). `down` is idempotent and safe after a failed `up`: every
# step works from what is there, and the record says what was there before.

# Sysctls the kubelet (and CNI plugins) may change.
E2E_SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
	net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding net.bridge.bridge-nf-call-iptables
	net.bridge.bridge-nf-call-ip6tables)
# Paths the kubelet, containerd, CNI and the chart's hostPath volumes
# (DirectoryOrCreate) create when missing.
E2E_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /run/netns /run/containerd
	/var/lib/cni /etc/cni /opt/cni /opt/containerd /var/lib/containerd /etc/kubernetes
	/usr/libexec/kubernetes /var/run/kubernetes /run/openblock-csi
	/run/udev)

BEFORE="${E2E_RUN}/before"

record_before() {
	mkdir -p "${BEFORE}"
	local s p
	for s in "${E2E_SYSCTLS[@]}"; do
		p="/proc/sys/${s//.//}"
		[ -f "${p}" ] && echo "${s} $(tr '\t' ' ' <"${p}")"
	done >"${BEFORE}/sysctl"
	for p in "${E2E_PATHS[@]}"; do
		[ -e "${p}" ] && echo "${p}"
	done >"${BEFORE}/paths"
	ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' >"${BEFORE}/links"
	for p in /sys/fs/cgroup/*/; do
		find "${p}" -mindepth 1 -maxdepth 1 -type d
	done >"${BEFORE}/cgroups" 2>/dev/null || true
	iptables_chains >"${BEFORE}/chains"
	ls /run/netns 2>/dev/null >"${BEFORE}/netns" || true
	top_entries >"${BEFORE}/top"
}

# top_entries: what is in the directories daemons like to write to; `down`
# reports anything new there (other users of the machine may add things, so
# it is a warning, not a failure).
top_entries() {
	local d
	for d in /etc /opt /run /var/lib /var/log /var/run /usr/libexec; do
		find "${d}" -mindepth 1 -maxdepth 1 2>/dev/null
	done | sort
}

# iptables_chains: "CMD TABLE CHAIN" for every chain of iptables and
# ip6tables (of the tables that exist: naming one may create it).
iptables_chains() {
	local cmd
	for cmd in iptables ip6tables; do
		command -v "${cmd}-save" >/dev/null || continue
		"${cmd}-save" 2>/dev/null | awk -v cmd="${cmd}" '/^\*/ {t = substr($0, 2)} /^:/ {print cmd, t, substr($1, 2)}'
	done
}

# pid_is PID NAME: PID is alive and runs NAME (not a recycled PID).
pid_is() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
	local exe
	exe="$(tr '\0' '\n' 2>/dev/null <"/proc/$1/cmdline" | head -n1)"
	[ "$(basename "${exe}")" = "$2" ]
}

# stop_pid NAME [HALF-SECONDS]: SIGTERM, then SIGKILL after a grace period
# (default 10 s; 0: SIGKILL at once).
stop_pid() {
	local f="${E2E_RUN}/pids/$1" pid name i
	[ -f "${f}" ] || return 0
	read -r pid name <"${f}"
	if pid_is "${pid}" "${name}" && [ "${2:-20}" = 0 ]; then
		kill -KILL "${pid}" 2>/dev/null || true
		sleep 0.5
	elif pid_is "${pid}" "${name}"; then
		kill -TERM "${pid}" 2>/dev/null || true
		for i in $(seq 1 "${2:-20}"); do
			pid_is "${pid}" "${name}" || break
			sleep 0.5
		done
		if pid_is "${pid}" "${name}"; then
			echo "down: ${name} (pid ${pid}) ignored SIGTERM: SIGKILL" >&2
			kill -KILL "${pid}" 2>/dev/null || true
			sleep 0.5
		fi
	fi
	rm -f "${f}"
}

# Processes left by containerd: shims (they re-parent to init) and the
# containers' processes, found through the pods' cgroups.
kill_leftover_processes() {
	local sock="${E2E_RUN}/containerd/containerd.sock" p
	if [ -S "${sock}" ] && command -v ctr >/dev/null; then
		local id
		for id in $(ctr -a "${sock}" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "${sock}" -n k8s.io tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true
		done
	fi
	for p in /proc/[0-9]*; do
		p="${p#/proc/}"
		if tr '\0' ' ' 2>/dev/null <"/proc/${p}/cmdline" | grep -q -- "containerd-shim.* -address ${sock}"; then
			kill -KILL "${p}" 2>/dev/null || true
		fi
	done
	local cg
	for cg in /sys/fs/cgroup/*/kubepods; do
		[ -d "${cg}" ] || continue
		find "${cg}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | while read -r p; do
			kill -KILL "${p}" 2>/dev/null || true
		done
	done
	sleep 1
}

# e2e_mounts: mount points the cluster made, deepest (latest) first.
e2e_mounts() {
	awk '{print $5}' /proc/self/mountinfo | sed 's/\\040/ /g' | tac | while read -r m; do
		case "${m}" in
		"${KUBELET_DIR}" | "${KUBELET_DIR}"/* | "${E2E_RUN}"/* | /run/netns/cni-* | /run/containerd/*) echo "${m}" ;;
		esac
	done
}

unmount_all() {
	local round m
	for round in 1 2 3 4 5; do
		local left
		left="$(e2e_mounts)"
		[ -z "${left}" ] && return 0
		while read -r m; do
			umount "${m}" 2>/dev/null || { [ "${round}" -ge 3 ] && umount -l "${m}" 2>/dev/null; } || true
		done <<<"${left}"
	done
}

remove_loop_devices() {
	local line dev file
	losetup -a -O NAME,BACK-FILE -n 2>/dev/null | while read -r dev file; do
		case "${file}" in
		"${E2E_RUN}"/*) losetup -d "${dev}" 2>/dev/null || echo "down: cannot detach ${dev} (${file})" >&2 ;;
		esac
	done
}

remove_links() {
	local l
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
		case "${l}" in
		cni0 | veth*)
			grep -qx "${l}" "${BEFORE}/links" 2>/dev/null || ip link delete "${l}" 2>/dev/null || true ;;
		esac
	done
	local n
	for n in $(ls /run/netns 2>/dev/null); do
		case "${n}" in
		cni-*)
			grep -qx "${n}" "${BEFORE}/netns" 2>/dev/null && continue
			umount "/run/netns/${n}" 2>/dev/null || true
			rm -f "/run/netns/${n}" ;;
		esac
	done
}

# remove_chains: chains that were not there before (the kubelet's
# KUBE-*-CANARY and any CNI-*), with the rules that jump to them.
remove_chains() {
	[ -f "${BEFORE}/chains" ] || return 0
	local cmd t c
	iptables_chains | while read -r cmd t c; do
		grep -qx "${cmd} ${t} ${c}" "${BEFORE}/chains" && continue
		case "${c}" in KUBE-* | CNI-*) ;; *) continue ;; esac
		# Rules elsewhere that jump to it, then its own rules, then itself.
		"${cmd}-save" -t "${t}" | grep -- "-j ${c}\( \|$\)" | grep '^-A ' | while read -r rule; do
			# shellcheck disable=SC2086
			"${cmd}" -t "${t}" ${rule/-A/-D} 2>/dev/null || true
		done
		"${cmd}" -t "${t}" -F "${c}" 2>/dev/null || true
		"${cmd}" -t "${t}" -X "${c}" 2>/dev/null || true
	done
}

remove_cgroups() {
	[ -f "${BEFORE}/cgroups" ] || return 0
	local top
	for top in /sys/fs/cgroup/*/; do
		find "${top}" -mindepth 1 -maxdepth 1 -type d | while read -r d; do
			grep -qx "${d}" "${BEFORE}/cgroups" && continue
			# Children first; rmdir (not rm) is how cgroups go.
			find "${d}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		done
	done
}

restore_sysctls() {
	[ -f "${BEFORE}/sysctl" ] || return 0
	local s v p
	while read -r s v; do
		p="/proc/sys/${s//.//}"
		[ -f "${p}" ] || continue
		[ "$(tr '\t' ' ' <"${p}")" = "${v}" ] && continue
		echo "down: restoring ${s} = ${v}" >&2
		echo "${v}" >"${p}" || echo "down: cannot restore ${s}" >&2
	done <"${BEFORE}/sysctl"
}

remove_created_paths() {
	[ -f "${BEFORE}/paths" ] || return 0
	local p
	for p in "${E2E_PATHS[@]}"; do
		[ -e "${p}" ] || continue
		grep -qx "${p}" "${BEFORE}/paths" && continue
		if grep -q " ${p}[/ ]" /proc/self/mountinfo; then
			echo "down: ${p} still has mounts; left in place" >&2
			continue
		fi
		rm -rf "${p}"
	done
}

# verify: nothing of the cluster is left. Prints what is and fails.
verify_clean() {
	local bad=0 f pid name
	for f in "${E2E_RUN}"/pids/*; do
		[ -f "${f}" ] || continue
		read -r pid name <"${f}"
		pid_is "${pid}" "${name}" && { echo "down: still running: ${name} (pid ${pid})" >&2; bad=1; }
	done
	local p c
	for p in /proc/[0-9]*; do
		pid="${p#/proc/}"
		[ "${pid}" = "$$" ] || [ "${pid}" = "${BASHPID}" ] && continue
		c="$(tr '\0' ' ' 2>/dev/null <"${p}/cmdline")" || continue
		case "${c}" in
		*"${E2E_RUN}"*) echo "down: still running: $(echo "${c}" | cut -c1-120) (pid ${pid})" >&2; bad=1 ;;
		esac
	done
	if [ -n "$(e2e_mounts)" ]; then echo "down: mounts left: $(e2e_mounts | tr '\n' ' ')" >&2; bad=1; fi
	if losetup -a -O BACK-FILE -n 2>/dev/null | grep -q "${E2E_RUN}"; then echo "down: loop devices left" >&2; bad=1; fi
	local l
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
		case "${l}" in
		cni0 | veth*) grep -qx "${l}" "${BEFORE}/links" 2>/dev/null || { echo "down: link left: ${l}" >&2; bad=1; } ;;
		esac
	done
	if [ -f "${BEFORE}/cgroups" ]; then
		local cg
		cg="$(for top in /sys/fs/cgroup/*/; do find "${top}" -mindepth 1 -maxdepth 1 -type d; done 2>/dev/null |
			grep -v -x -F -f "${BEFORE}/cgroups" || true)"
		[ -z "${cg}" ] || { echo "down: cgroups left: $(echo "${cg}" | tr '\n' ' ')" >&2; bad=1; }
	fi
	if [ -f "${BEFORE}/sysctl" ]; then
		local s v p
		while read -r s v; do
			p="/proc/sys/${s//.//}"
			[ -f "${p}" ] && [ "$(tr '\t' ' ' <"${p}")" != "${v}" ] && { echo "down: sysctl ${s} not restored" >&2; bad=1; }
		done <"${BEFORE}/sysctl"
		if [ "$(iptables_chains | grep -E ' (KUBE|CNI)-' | sort)" != "$(grep -E ' (KUBE|CNI)-' "${BEFORE}/chains" | sort)" ]; then
			echo "down: iptables chains left" >&2; bad=1
		fi
	fi
	return "${bad}"
}

down() {
	if [ ! -d "${E2E_RUN}" ]; then
		echo "down: nothing to do (${E2E_RUN} does not exist)" >&2
		return 0
	fi
	local t0=${SECONDS}
	# The kubelet first, so nothing restarts what is stopped next.
	stop_pid kubelet 30
	stop_pid snapshot-controller
	stop_pid kube-scheduler
	stop_pid kube-controller-manager
	stop_pid kube-apiserver 10
	stop_pid etcd
	kill_leftover_processes
	# containerd's namespace holds nothing worth a graceful stop: killing
	# its unshare kills its init, and with it every process in it.
	stop_pid containerd 0
	kill_leftover_processes
	unmount_all
	# The simulator detaches its loop devices when it stops.
	stop_pid cloudsim 20
	remove_loop_devices
	remove_links
	remove_chains
	remove_cgroups
	restore_sysctls
	remove_created_paths
	if [ -f "${BEFORE}/top" ]; then
		local new
		new="$(comm -13 "${BEFORE}/top" <(top_entries) | grep -v -x -F -e "${E2E_RUN}" || true)"
		[ -z "${new}" ] || echo "down: warning: new since up (not made by the cluster?): $(echo "${new}" | tr '\n' ' ')" >&2
	fi
	if verify_clean; then
		# Nothing mounted below it any more: safe to remove.
		rm -rf "${E2E_RUN}"
		echo "down: clean in $(( SECONDS - t0 ))s: no process, mount, loop device, link, cgroup, iptables chain or sysctl change left" >&2
	else
		echo "down: FAILED: the machine is not clean (see above); ${E2E_RUN} kept" >&2
		return 1
	fi
}
