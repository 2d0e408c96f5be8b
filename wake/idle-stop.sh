#!/usr/bin/env bash
# Stops this runner when its GitLab Runner has run no job for the stack's idle minutes
# (n3x:idleMinutes, in the SSM parameter /<instance profile>/idle-minutes). Run it every
# minute on the runner (a systemd timer, docs/ami.md). It never cuts a job: it first stops
# GitLab Runner gracefully (SIGQUIT: it takes no new job and lets a running one finish, one
# it took since the last look included), and only then stops the instance through the EC2
# API, as a user stop that the wake function may start again. The graceful stop is a
# runtime drop-in, gone at the next boot: any other stop (an AMI upgrade's) stays as the
# unit says, abandoning jobs, within the provider's 10 minutes. GitLab Runner not running
# (failed, or stopped by hand) has no job: idle, so that runner does not bill for good.
#
# Needs: curl, jq, awk, the AWS CLI, systemd, GitLab Runner's metrics on 127.0.0.1:9252
# (listen_address), and the runner role (which may read the parameter and stop its own
# instance). State: /run/n3x-idle/busy-at, the last time a job ran, in seconds since the
# boot (/proc/uptime: a clock step moves nothing); /run is empty after a boot, so the idle
# time counts from the boot.
set -euo pipefail

state=${N3X_IDLE_STATE:-/run/n3x-idle}
units=${N3X_SYSTEMD_RUNTIME:-/run/systemd/system}
metrics=${N3X_RUNNER_METRICS:-http://127.0.0.1:9252/metrics}
uptime=${N3X_UPTIME:-/proc/uptime}
imds=http://169.254.169.254/latest

# Every call bounded: the timer starts no second run while one hangs.
token=$(curl -fsS --max-time 5 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds/api/token")
metadata() { curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/$1"; }
instance=$(metadata instance-id)
region=$(metadata placement/region)
profile=$(metadata iam/info | jq -r '.InstanceProfileArn | split("/") | last')
minutes=$(aws ssm get-parameter --region "$region" --name "/$profile/idle-minutes" --query Parameter.Value --output text)
case $minutes in '' | *[!0-9]*) echo "idle-stop: /$profile/idle-minutes is not a number: $minutes" >&2; exit 1 ;; esac

mkdir -p "$state"
read -r now _ <"$uptime"
now=${now%.*}
busy() {
	echo "$now" >"$state/busy-at"
	echo "$1" >"$state/taken"
	exit 0
}

# busy-at from before this boot's clock (an update in place, from a version that counted
# wall-clock seconds) is no time since the boot: the idle time starts now.
if [ -e "$state/busy-at" ] && [ "$(cat "$state/busy-at")" -gt "$now" ]; then
	rm -f "$state/busy-at"
fi

# Jobs this GitLab Runner has, in any state but idle (gitlab_runner_jobs; its idle series
# is always there, at 0), and the jobs it has taken since it started (gitlab_runner_jobs_total,
# a counter: a job that began and ended between two looks moved it).
runner=up
if page=$(curl -fsS --max-time 10 "$metrics"); then
	jobs=$(awk '/^gitlab_runner_jobs\{/ && !/state="idle"/ { n += $NF } END { print n + 0 }' <<<"$page")
	taken=$(awk '/^gitlab_runner_jobs_total[{ ]/ { n += $NF } END { print n + 0 }' <<<"$page")
	if [ "$jobs" != 0 ] || [ ! -e "$state/busy-at" ] || [ "$taken" != "$(cat "$state/taken" 2>/dev/null)" ]; then
		busy "$taken"
	fi
else
	# No metrics. GitLab Runner starting, stopping or up without them: it may have a job;
	# not idle. GitLab Runner not running (failed, or stopped): it has no job, and nothing
	# will take one; idle, or the machine would stay up, billed, until someone looks.
	unit=$(systemctl is-active gitlab-runner.service || true) # exits 3 when not active
	case $unit in
	inactive | failed)
		runner=down
		echo "idle-stop: GitLab Runner is not running; idle" >&2
		[ -e "$state/busy-at" ] || busy none
		;;
	*)
		echo "idle-stop: no GitLab Runner metrics at $metrics; not idle" >&2
		busy none
		;;
	esac
fi
idle=$((now - $(cat "$state/busy-at")))
if [ "$idle" -lt $((minutes * 60)) ]; then
	exit 0
fi

dropIn="$units/gitlab-runner.service.d/n3x-idle-stop.conf"
# undoGracefulStop takes jobs again after a stop that did not happen: GitLab Runner starts
# again if it ran before (one that was down stays as it was).
undoGracefulStop() {
	rm -f "$dropIn"
	systemctl daemon-reload
	if [ "$runner" = up ]; then
		systemctl start gitlab-runner.service
	fi
}
if [ "$runner" = up ]; then
	echo "idle-stop: no job for $((idle / 60)) minutes (n3x:idleMinutes $minutes): stopping GitLab Runner, then $instance"
else
	echo "idle-stop: GitLab Runner down for $((idle / 60)) minutes (n3x:idleMinutes $minutes): stopping $instance"
fi
# SIGQUIT to GitLab Runner alone (KillMode=process): the shell executor's jobs run in the
# unit's cgroup, and the default control-group mode would signal them too, cutting a job.
# Down, the stop does nothing but cancel a start that is queued: none comes up to take a job
# that the shutdown would cut.
mkdir -p "$(dirname "$dropIn")"
printf '[Service]\nKillSignal=SIGQUIT\nKillMode=process\nTimeoutStopSec=infinity\n' >"$dropIn"
systemctl daemon-reload
# Returns once a job it took meanwhile has run to its end. Failed (another start of the
# unit cancelled the stop): take jobs again, and look again on the next minute.
if ! systemctl stop gitlab-runner.service; then
	echo "idle-stop: stopping GitLab Runner failed; starting it again" >&2
	undoGracefulStop
	exit 1
fi
if ! aws ec2 stop-instances --region "$region" --instance-ids "$instance" >/dev/null; then
	# Not stopped (throttled, refused): take jobs again rather than idle on, billed, with none.
	echo "idle-stop: stopping $instance failed; taking jobs again" >&2
	undoGracefulStop
	exit 1
fi
