# Shared by the scenario scripts (sourced, not a test): a sample region from
# mcr-synth and reading its flat summary and the staged manifests.
# Needs $BIN (the programs) and $work (the script's temporary folder).

# region_make PEOPLE SEED: $work/region and $work/summary; exports MCR_NOW as the
# extract time the summary's counts assume.
region_make() {
  "$BIN/mcr-synth" --people "$1" --seed "$2" --out "$work/region" --flat >"$work/summary" ||
    { echo "mcr-synth failed"; exit 1; }
  MCR_NOW=$(summary_value synth.extract_time)
  [ -n "$MCR_NOW" ] || { echo "no synth.extract_time in the summary"; exit 1; }
  export MCR_NOW
}

# summary_value KEY: the value of one "dotted.path value" line of the summary.
summary_value() {
  awk -v k="$1" '$1 == k { print $2; exit }' "$work/summary"
}

# region_orgs: the ODS codes of the region's organisations.
region_orgs() {
  awk -F'[. ]' '$1 == "organisations" && $3 == "kind" { print $2 }' "$work/summary"
}

# region_extract CONFIG: every organisation's source through its extractor, staged
# where CONFIG says (at the extract time $MCR_NOW).
region_extract() {
  local ods kind src
  for ods in $(region_orgs); do
    kind=$(summary_value "organisations.$ods.kind")
    src=$(summary_value "organisations.$ods.source")
    "$BIN/mcr-extract-$kind" --config "$1" --org "$ods" --input "$work/region/$src" \
      >/dev/null 2>"$work/extract.err" || { echo "$ods: extract failed: $(cat "$work/extract.err")"; exit 1; }
  done
}

# flatten FILE: a manifest's YAML (two-space indentation) as "dotted.path value" lines.
flatten() {
  awk '
    /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
    {
      match($0, /^ */); depth = RLENGTH / 2
      line = substr($0, RLENGTH + 1)
      key = line; sub(/:.*/, "", key)
      val = line; sub(/^[^:]*:[[:space:]]*/, "", val); gsub(/"/, "", val)
      path[depth] = key
      p = path[0]; for (i = 1; i <= depth; i++) p = p "." path[i]
      if (val != "") print p, val
    }' "$1"
}
