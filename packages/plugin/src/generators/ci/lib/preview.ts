/**
 * The shell scripts of the pull-request preview jobs: what they run, and the comment that lists
 * the preview URLs. Values reach them through their step's env (never `${{ }}` in a script).
 */

/** First line of the pull-request comment: the workflow finds its own comment by it. */
export const PREVIEW_MARKER = '<!-- conveyor-preview -->';

/** The account that GITHUB_TOKEN comments as: only its comments are ever edited. */
export const ACTIONS_BOT = 'github-actions[bot]';

/** Where the preview job keeps the output of its deploys, for the comment step. */
export const PREVIEW_LOG = '${{ runner.temp }}/conveyor-preview.log';

/**
 * Deploys the affected apps' previews and keeps their output in $PREVIEW_LOG. A step without
 * `shell:` runs under `bash -e` without pipefail: without it, tee would hide a failed deploy.
 */
export function deployPreviewsScript(): string {
  return [
    'set -o pipefail',
    'npx nx affected -t preview --configuration=staging --pr="$PR_NUMBER" --outputStyle=static 2>&1 | tee "$PREVIEW_LOG"',
    '',
  ].join('\n');
}

/** Removes the pull request's previews of every app that has a preview target. */
export function destroyPreviewsScript(): string {
  return 'npx nx run-many -t preview --configuration=staging --pr="$PR_NUMBER" --destroy --outputStyle=static\n';
}

/**
 * The comment body, built from the `Preview of <app> for PR <n>: <url>` lines in $PREVIEW_LOG
 * (colours stripped, each app once, in the order they were printed), as the step output `body`.
 * No such line (nothing affected has a preview): an empty body, and no comment.
 */
export function previewCommentBodyScript(): string {
  return [
    'previews="$(sed -E \'s/\\x1b\\[[0-9;]*[A-Za-z]//g\' "$PREVIEW_LOG" |',
    '  sed -nE "s#.*Preview of ([^ ]+) for PR ${PR_NUMBER}: (https://[^[:space:]]+).*#- \\1: \\2#p" |',
    "  awk '!seen[$0]++')\"",
    'if [ -z "$previews" ]; then',
    '  echo "No preview was deployed: no comment."',
    '  exit 0',
    'fi',
    `body="${PREVIEW_MARKER}`,
    '**Previews** of this pull request at ${HEAD_SHA:0:7}:',
    '',
    '$previews',
    '',
    'Each push redeploys them; closing the pull request removes them."',
    'printf \'%s\\n\' "$body"',
    '{',
    "  echo 'body<<CONVEYOR_PREVIEW_BODY'",
    '  printf \'%s\\n\' "$body"',
    "  echo 'CONVEYOR_PREVIEW_BODY'",
    '} >> "$GITHUB_OUTPUT"',
    '',
  ].join('\n');
}

/**
 * Posts $BODY on pull request $PR_NUMBER, or edits the comment this workflow posted before (the
 * bot's comment that starts with the marker): one comment per pull request. gh reads GH_TOKEN.
 */
export function previewCommentScript(): string {
  const mine = `.[] | select(.user.login == "${ACTIONS_BOT}" and (.body | startswith("${PREVIEW_MARKER}"))) | .id`;
  return [
    'comments="repos/$GITHUB_REPOSITORY/issues/$PR_NUMBER/comments"',
    `ids="$(gh api --paginate "$comments" --jq '${mine}')"`,
    'id="${ids%%[[:space:]]*}"',
    'if [ -n "$id" ]; then',
    '  gh api --method PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -f body="$BODY" >/dev/null',
    '  echo "Updated the preview comment ($id)."',
    'else',
    '  gh api --method POST "$comments" -f body="$BODY" >/dev/null',
    '  echo "Commented the preview URLs."',
    'fi',
    '',
  ].join('\n');
}
