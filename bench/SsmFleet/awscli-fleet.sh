#!/bin/sh
# The peer of bench/SsmFleet: what a user does by hand with the AWS CLI v2 to get the collector's output from every
# instance of a fleet through SSM Run Command. It only gathers the raw outputs; it analyzes nothing.
#
# Usage: awscli-fleet.sh ENDPOINT_URL REGION PARAMETERS_JSON IDS_FILE OUT_DIR [PARALLEL]
#   PARAMETERS_JSON  AWS-RunShellScript parameters, e.g. {"commands": [...script lines...], "executionTimeout": ["120"]}
#   IDS_FILE         one instance id per line
#   OUT_DIR          receives INSTANCE_ID.out per instance (and a work directory)
#   PARALLEL         how many get-command-invocation processes at once (xargs -P); 1 (default): one after another
# Environment: AWS (default /usr/bin/aws), POLL_SECONDS (default 1): the pause between polling rounds.
#
# 1. send-command, 50 instances per command (SSM's limit on --instance-ids);
# 2. list-command-invocations per command until none of its invocations is Pending, InProgress or Delayed;
# 3. get-command-invocation per instance (one process each), its StandardOutputContent stored in OUT_DIR.
set -eu

endpoint=$1
region=$2
params=$3
ids=$4
out=$5
parallel=${6:-1}
AWS=${AWS:-/usr/bin/aws}
poll=${POLL_SECONDS:-1}

work=$out/.work
rm -rf "$work"
mkdir -p "$work/batches"
: > "$work/commands"
: > "$work/pairs"

# 1. Send.
split -l 50 "$ids" "$work/batches/b."
for batch in "$work"/batches/b.*; do
    # shellcheck disable=SC2046 # one argument per instance id
    cid=$("$AWS" ssm send-command --endpoint-url "$endpoint" --region "$region" \
        --document-name AWS-RunShellScript --instance-ids $(cat "$batch") \
        --parameters "file://$params" --timeout-seconds 120 \
        --query Command.CommandId --output text </dev/null)
    printf '%s\n' "$cid" >> "$work/commands"
    while read -r iid; do
        printf '%s %s\n' "$cid" "$iid" >> "$work/pairs"
    done < "$batch"
done

# 2. Poll until every command is done.
pending=$(cat "$work/commands")
while [ -n "$pending" ]; do
    still=
    for cid in $pending; do
        n=$("$AWS" ssm list-command-invocations --endpoint-url "$endpoint" --region "$region" --command-id "$cid" \
            --query "length(CommandInvocations[?Status=='Pending' || Status=='InProgress' || Status=='Delayed'])" \
            --output text </dev/null)
        [ "$n" = 0 ] || still="$still $cid"
    done
    pending=$still
    [ -z "$pending" ] || sleep "$poll"
done

# 3. Fetch every instance's output.
export AWS endpoint region out
if [ "$parallel" -le 1 ]; then
    while read -r cid iid; do
        "$AWS" ssm get-command-invocation --endpoint-url "$endpoint" --region "$region" \
            --command-id "$cid" --instance-id "$iid" \
            --query StandardOutputContent --output text </dev/null > "$out/$iid.out"
    done < "$work/pairs"
else
    xargs -n 2 -P "$parallel" sh -c '"$AWS" ssm get-command-invocation --endpoint-url "$endpoint" --region "$region" \
        --command-id "$1" --instance-id "$2" \
        --query StandardOutputContent --output text </dev/null > "$out/$2.out"' sh < "$work/pairs"
fi
