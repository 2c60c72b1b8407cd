#!/bin/sh
# PID 1 of the simulated node (test/package/image.test.ts): starts and stops services when systemctl asks,
# as systemd would: a request file `<id>.req` in /sim/queue holding "<action> <unit>", answered by `<id>.done`.
# Services run ExecStart= of /etc/systemd/system/<unit> with the unit's runtime, state and log directories.
# Only busybox is available: its applets are called as `busybox <applet>`.
cd /
while :; do
	for req in /sim/queue/*.req; do
		[ -e "$req" ] || continue
		read -r action unit <"$req"
		busybox rm -f "$req"
		pidfile="/sim/$unit.pid"
		if [ "$action" = stop ] || [ "$action" = restart ]; then
			if [ -f "$pidfile" ]; then
				pid=$(busybox cat "$pidfile")
				kill "$pid" 2>/dev/null
				wait "$pid"
				busybox rm -f "$pidfile"
				busybox rm -rf /run/criguard # RuntimeDirectory= is removed when the service stops
			fi
		fi
		if [ "${unit%.socket}" != "$unit" ]; then
			# A socket unit: the simulated node runs criguard unactivated (it binds its own socket).
			if [ "$action" = stop ]; then busybox rm -f "/sim/$unit.active"; else busybox touch "/sim/$unit.active"; fi
		elif [ "$action" = start ] || [ "$action" = restart ]; then
			command=$(busybox sed -n 's/^ExecStart=//p' "/etc/systemd/system/$unit")
			busybox mkdir -p -m 0750 /run/criguard
			busybox mkdir -p -m 0700 /var/lib/criguard /var/log/criguard
			$command >>"/sim/$unit.log" 2>&1 &
			echo $! >"$pidfile"
		fi
		busybox touch "${req%.req}.done"
	done
	busybox sleep 0.1
done
