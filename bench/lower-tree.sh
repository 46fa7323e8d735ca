# Sourced by the overlay benchmarks: the one lower tree they all measure on, so their figures stay comparable.
# lower_tree DIR FILES BIG_MB: FILES small files, 100 per leaf dir, 10 leaves per top dir; one BIG_MB file "big".
lower_tree() {
    local L=$1 FILES=$2 BIG_MB=$3 n=0 d=0 i dir
    local line="lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore"
    while [ $n -lt "$FILES" ]; do
        dir=$(printf "%s/d%03d/s%d" "$L" $((d / 10)) $((d % 10)))
        mkdir -p "$dir"
        for ((i = 0; i < 100 && n < FILES; i++, n++)); do printf "%s %d\n" "$line" $n > "$dir/f$i"; done
        d=$((d + 1))
    done
    head -c $((BIG_MB * 1024 * 1024)) /dev/urandom > "$L/big"
    sync
}
