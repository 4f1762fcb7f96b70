#!/usr/bin/env bash
# The period of the scheduled usage report (.github/workflows/report.yml),
# printed as `from=YYYY-MM-DD`, `to=YYYY-MM-DD` and `tz=ZONE` lines for
# $GITHUB_OUTPUT.
#
#   REPORT_FROM, REPORT_TO  given by hand (both or neither): checked and
#                           passed through;
#                           neither: the previous calendar month of today;
#   REPORT_TZ               IANA zone, default UTC (xtask checks the name);
#   REPORT_TODAY            YYYY-MM-DD, default today in UTC (for tests).
#
# Needs GNU date (`date -d`), as on the Ubuntu runners.
set -euo pipefail

fail() {
  echo "report-period: $*" >&2
  exit 1
}

# A real calendar day written YYYY-MM-DD (2026-02-30 is not one).
check_date() {
  local name=$1 value=$2
  if ! [[ $value =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
    [ "$(date -u -d "$value" +%F 2>/dev/null)" != "$value" ]; then
    fail "input \`$name\` is \`$value\`: expected a date YYYY-MM-DD"
  fi
}

from=${REPORT_FROM:-}
to=${REPORT_TO:-}
tz=${REPORT_TZ:-}
tz=${tz:-UTC}

if [ -n "$from" ] || [ -n "$to" ]; then
  [ -n "$from" ] || fail "input \`from\` is empty while \`to\` is \`$to\`: give both, or neither for the previous month"
  [ -n "$to" ] || fail "input \`to\` is empty while \`from\` is \`$from\`: give both, or neither for the previous month"
  check_date from "$from"
  check_date to "$to"
  # YYYY-MM-DD strings sort like the dates.
  if [[ $to < $from ]]; then
    fail "input \`to\` ($to) is before input \`from\` ($from)"
  fi
else
  today=${REPORT_TODAY:-$(date -u +%F)}
  check_date REPORT_TODAY "$today"
  # The day before the 1st of this month is the last of the previous one
  # (31 December in January, 29 February in a leap year).
  to=$(date -u -d "$(date -u -d "$today" +%Y-%m-01) -1 day" +%F)
  from=$(date -u -d "$to" +%Y-%m-01)
fi

# Only the characters of IANA names (America/Port-au-Prince, Etc/GMT+5): a
# newline would write another line into $GITHUB_OUTPUT.
[[ $tz =~ ^[A-Za-z0-9_+/-]+$ ]] || fail "input \`tz\` is \`$tz\`: expected an IANA time zone name such as UTC or America/Chicago"

echo "usage report period: $from to $to ($tz)" >&2
printf 'from=%s\nto=%s\ntz=%s\n' "$from" "$to" "$tz"
