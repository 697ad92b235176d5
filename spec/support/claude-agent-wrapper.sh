#!/bin/sh
# spec/support/claude-agent-wrapper.sh - a claude-agent-wrapper for the
# tests (spec/agent_spec.lua, scripts/compat/suite.mjs), which install it
# in a sandbox as /usr/local/bin/claude-agent-wrapper: the JSON-lines
# protocol of protocol.md 7.2 and 7.3, without Claude. POSIX sh, no JSON
# parser: it matches the commands' text and echoes their lines.
#
# At start: {"type":"ready"}. A configure line: {"type":"configured",
# "got":<the line>}. A prompt line: {"type":"assistant","got":<the line>},
# then {"type":"turn_complete","claude_session_id":null}. An interrupt:
# {"type":"interrupted"}. Anything else: an error event. End of stdin:
# exit 0. Test prompts (the text, before the usual answer): "split"
# writes {"type":"assistant","text":"café"} and {"type":"second"} in
# pieces with pauses between (one piece ends inside the é), "noise" a
# blank line, a line of spaces, a non-JSON line, a JSON list and
# {"type":"after_noise"}, "long" a 320-byte event line in two pieces and
# then {"type":"small"}, "stderr" a diagnostic line on stderr; "exit N"
# exits with status N, "tail" writes {"type":"last","n":1} without its
# newline and exits 0.
printf '{"type":"ready"}\n'
while IFS= read -r line; do
  case $line in
  *'"type":"configure"'*) printf '{"type":"configured","got":%s}\n' "$line" ;;
  *'"type":"prompt"'*)
    case $line in
    *'"text":"exit '*)
      code=${line#*'"text":"exit '}; exit "${code%%\"*}" ;;
    *'"text":"split"'*)
      printf '{"type":"assis'; sleep 0.3
      printf 'tant","text":"caf\303'; sleep 0.3
      printf '\251"}\n{"type":"second"'; sleep 0.3
      printf '}\n' ;;
    *'"text":"noise"'*)
      printf '\n   \nnot json at all\n[1,2]\n{"type":"after_noise"}\n' ;;
    *'"text":"long"'*)
      printf '{"type":"big","pad":"%0300d'; sleep 0.3
      printf '"}\n{"type":"small"}\n' ;;
    *'"text":"stderr"'*)
      printf '[claude-agent-wrapper] a diagnostic\n' >&2 ;;
    *'"text":"tail"'*)
      printf '{"type":"last","n":1}'; exit 0 ;;
    esac
    printf '{"type":"assistant","got":%s}\n' "$line"
    printf '{"type":"turn_complete","claude_session_id":null}\n' ;;
  *'"type":"interrupt"'*) printf '{"type":"interrupted"}\n' ;;
  *) printf '{"type":"error","message":"unknown command"}\n' ;;
  esac
done
