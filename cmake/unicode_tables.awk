# Generates the Unicode category ranges the tokenizers need from Debian's
# /usr/share/unicode/UnicodeData.txt (package unicode-data), at build time:
# the table is derived data, not committed. Output: C source with a sorted
# array of { first, last, flags } ranges.
BEGIN {
    FS = ";"
    n = 0
    printf "/* Generated at build time from UnicodeData.txt by cmake/unicode_tables.awk. */\n"
    printf "#include \"engine/tokenizer/unicode.h\"\n\n"
    printf "const struct rg_unicode_range rg_unicode_ranges[] = {\n"
}
function hex(s,    i, c, v) {
    v = 0
    s = toupper(s)
    for (i = 1; i <= length(s); i++) {
        c = index("0123456789ABCDEF", substr(s, i, 1)) - 1
        v = v * 16 + c
    }
    return v
}
function flag_of(cat,    c) {
    c = substr(cat, 1, 1)
    if (c == "L") return "RG_UC_LETTER"
    if (c == "N") return "RG_UC_NUMBER"
    if (c == "P") return "RG_UC_PUNCT"
    if (c == "S") return "RG_UC_SYMBOL"
    if (c == "M") return "RG_UC_MARK"
    if (c == "Z") return "RG_UC_SEPARATOR"
    return "RG_UC_CONTROL"
}
function emit(first, last, f) {
    if (n > 0 && f == cur_f && first == cur_last + 1) { cur_last = last; return }
    if (n > 0) printf "    {0x%X, 0x%X, %s},\n", cur_first, cur_last, cur_f
    cur_first = first; cur_last = last; cur_f = f; n++
}
{
    cp = hex($1)
    f = flag_of($3)
    if ($14 != "") lower[nl++] = sprintf("    {0x%X, 0x%X},", cp, hex($14))
    if ($6 != "" && substr($6, 1, 1) != "<") {
        nparts = split($6, parts, " ")
        if (nparts == 1) decomp[nd++] = sprintf("    {0x%X, 0x%X, 0},", cp, hex(parts[1]))
        else if (nparts == 2) decomp[nd++] = sprintf("    {0x%X, 0x%X, 0x%X},", cp, hex(parts[1]), hex(parts[2]))
    }
    if ($2 ~ /, First>$/) { range_start = cp; next }
    if ($2 ~ /, Last>$/) { emit(range_start, cp, f); next }
    emit(cp, cp, f)
}
END {
    if (n > 0) printf "    {0x%X, 0x%X, %s},\n", cur_first, cur_last, cur_f
    printf "};\n"
    printf "const unsigned rg_unicode_n_ranges = sizeof rg_unicode_ranges / sizeof rg_unicode_ranges[0];\n\n"
    printf "const struct rg_unicode_pair rg_unicode_lower[] = {\n"
    for (i = 0; i < nl; i++) print lower[i]
    printf "};\nconst unsigned rg_unicode_n_lower = sizeof rg_unicode_lower / sizeof rg_unicode_lower[0];\n\n"
    printf "const struct rg_unicode_decomp rg_unicode_decomps[] = {\n"
    for (i = 0; i < nd; i++) print decomp[i]
    printf "};\nconst unsigned rg_unicode_n_decomps = sizeof rg_unicode_decomps / sizeof rg_unicode_decomps[0];\n"
}
