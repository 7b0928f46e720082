#!/usr/bin/env bash
# The objects of one CPU level's kernels (engine/CMakeLists.txt,
# training/CMakeLists.txt) define code only in that level's namespaces. A
# function they define outside them (an inline function or template instance
# from a shared header, say) is a weak symbol that the linker may pick for
# every caller, other levels' and the baseline code's included: on a CPU
# without that level's instructions the program would die with an illegal
# instruction.
# Usage: cpu_level_symbols_test.sh LEVEL 'OBJECT;OBJECT;...' [NAMESPACE...]
# (the objects a CMake list; the namespaces default to rowshard::cpu::LEVEL)
set -euo pipefail
level=$1
IFS=';' read -ra objects <<< "$2"
shift 2
namespaces=("${@:-rowshard::cpu::${level}}")
own=$(printf '%s::|' "${namespaces[@]}")
own=${own%|}
strays=$(nm --defined-only --demangle "${objects[@]}" |
  awk -v own="$own" '
    NF >= 3 && $2 ~ /^[TWVRDBiu]$/ {
      name = substr($0, index($0, $3))
      # A template instance demangles with its return type first.
      function_name = name
      sub(/\(.*/, "", function_name)
      if (function_name !~ ("(^| )(" own ")") && name != "DW.ref.__gxx_personality_v0") print name
    }')
if [[ -n "$strays" ]]; then
  echo "level ${level}'s kernels define symbols outside ${namespaces[*]}:" >&2
  echo "$strays" >&2
  exit 1
fi
echo "level ${level}: every symbol is in ${namespaces[*]}"
