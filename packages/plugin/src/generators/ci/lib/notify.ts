import { SECRET_ENV, TOOL_ENV } from '../../../core/config/names';

const TOKEN = SECRET_ENV.telegramToken;
const CHAT = TOOL_ENV.telegramChatId;
const API = TOOL_ENV.telegramApiUrl;

const RUN_URL = '${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}';

/**
 * Shell lines that send $MESSAGE to Telegram's Bot API when the token and chat id are set, and
 * do nothing otherwise. The token reaches curl through its config on stdin (printf is a shell
 * builtin): it is never on a command line and never printed. A failed notice only warns.
 */
export function sendTelegramLines(): string[] {
  return [
    `if [ -z "\${${TOKEN}:-}" ] || [ -z "\${${CHAT}:-}" ]; then`,
    `  echo "${TOKEN} or ${CHAT} is not set: no Telegram notice."`,
    '  exit 0',
    'fi',
    `api="\${${API}:-https://api.telegram.org}"`,
    `if printf 'url = "%s/bot%s/sendMessage"\\n' "\${api%/}" "$${TOKEN}" |`,
    '  curl --fail --silent --show-error --max-time 20 --retry 2 --output /dev/null --config - \\',
    `    --data-urlencode "chat_id=$${CHAT}" --data-urlencode "text=$MESSAGE"; then`,
    '  echo "Telegram notice sent."',
    'else',
    '  echo "::warning::The Telegram notice could not be sent."',
    'fi',
  ];
}

/**
 * The notify job's script: one message with the result of every job of the run. Reads
 * TEST_RESULT, BUILD_RESULT, DEPLOY_RESULT, STAGING_TAG and STAGING_PROJECTS from its env.
 */
export function pipelineNoticeScript(): string {
  return [
    'status=succeeded',
    'for result in "$TEST_RESULT" "$BUILD_RESULT" "$DEPLOY_RESULT"; do',
    '  case "$result" in',
    '  failure) status=FAILED ;;',
    '  cancelled) [ "$status" = FAILED ] || status=cancelled ;;',
    '  esac',
    'done',
    'staging="$DEPLOY_RESULT"',
    'if [ "$DEPLOY_RESULT" = success ] && [ -n "$STAGING_PROJECTS" ]; then',
    '  staging="$STAGING_TAG deployed to $STAGING_PROJECTS"',
    'fi',
    'MESSAGE="CI/CD $status: $GITHUB_REPOSITORY $GITHUB_REF_NAME ${GITHUB_SHA:0:7}',
    'test: $TEST_RESULT, build: $BUILD_RESULT, staging: $staging',
    `${RUN_URL}"`,
    ...sendTelegramLines(),
    '',
  ].join('\n');
}

/** The promote job's failure notice (a deploy that ran sends its own; this covers the rest). */
export function promotionFailedScript(): string {
  return [
    'MESSAGE="Promotion to production FAILED: $GITHUB_REPOSITORY $PROMOTE_TAG ($PROMOTE_PROJECTS)',
    `${RUN_URL}"`,
    ...sendTelegramLines(),
    '',
  ].join('\n');
}
