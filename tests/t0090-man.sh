#!/bin/sh
# t0090-man: the manual pages.
#
# - Every page under man/ is lint-clean: `mandoc -Tlint -W warning` prints
#   nothing.
# - For every program built into build/bin and build/tools that has a page
#   man/man1/NAME.1: `NAME --help` prints the usage to stdout and exits 0,
#   `NAME --no-such-option` exits 64, every long option of the usage text
#   is in the page's SYNOPSIS or OPTIONS, the SYNOPSIS has exactly the
#   options of the usage text (STYLE.md: "Usage text is the man page
#   SYNOPSIS; a test checks the two agree"), and the page has the sections
#   every program page has.  A program without a page yet is skipped.
# - The transcripts in the EXAMPLES of the pages named in TRANSCRIPT_PAGES
#   run and print what the page shows.  A transcript is a literal block
#   whose first line starts with "$ ": lines starting with "$ " are
#   commands, the others their expected standard output.  The expected
#   output was worked out by hand when the pages were written (CSV typing
#   and quoting, key bytes, last-wins upserts; the event time
#   1392388200000 is `date -u -d '2014-02-14 14:30:00' +%s` times 1000);
#   the test runs the commands in an empty directory and compares.
#
# Pages are compared in mandoc's rendering (-Tascii, overstrike removed),
# so that what is checked is what a reader sees.

. "$(dirname "$0")/lib.sh"

TRANSCRIPT_PAGES="ksource ksink"

if ! command -v mandoc >/dev/null 2>&1; then
	test_skip 'manual pages' 'mandoc is not installed (scripts/install-deps installs it)'
	test_done
fi

# render PAGE: the page as plain text, one line per line, no wrapping
render() {
	mandoc -Tascii -O width=400 "$1" | sed 's/.\x08//g'
}

# section NAME: the lines of section NAME of a rendered page on stdin
section() {
	awk -v want="$1" '/^[^ \t]/ { cur = $0; next } cur == want'
}

# options: the options named in text on stdin, one per line, sorted:
# "--long" as it is, bundled short options "-eqv" as "-e", "-q", "-v"
options() {
	grep -oE '(^|[][ |])--?[A-Za-z0-9][A-Za-z0-9-]*' |
	    sed -E 's/^[][ |]//' |
	    awk '/^--/ { print; next }
		{ for (i = 2; i <= length($0); i++) print "-" substr($0, i, 1) }' |
	    sort -u
}

# ---- lint ----

for page in "$TOP"/man/man[1-9]/*.[1-9]; do
	[ -f "$page" ] || continue
	rel=${page#"$TOP"/}
	test_expect_success "$rel: mandoc -Tlint -W warning is silent" "
		mandoc -Tlint -W warning '$page' >lint.out 2>&1
		rc=\$?
		cat lint.out >&2
		test \$rc -eq 0 && ! test -s lint.out
	"
done

# ---- programs and their pages ----

for prog in "$KPIPE_BUILD"/bin/* "$KPIPE_BUILD"/tools/*; do
	[ -f "$prog" ] && [ -x "$prog" ] || continue
	name=$(basename "$prog")
	page=$TOP/man/man1/$name.1
	if ! [ -f "$page" ]; then
		test_skip "$name: man page" "no man/man1/$name.1 yet"
		continue
	fi

	test_expect_success "$name --help prints the usage to stdout, exits 0" "
		'$prog' --help >help.out 2>help.err &&
		grep -q '^usage: $name' help.out &&
		! test -s help.err
	"

	test_expect_success "$name --no-such-option exits 64" "
		test_expect_code 64 timeout 20 '$prog' --no-such-option \
		    </dev/null >/dev/null
	"

	test_expect_success "$name: every long option of --help is in the page" "
		'$prog' --help >help.out || exit 1
		render '$page' >page.txt || exit 1
		{ section SYNOPSIS <page.txt; section OPTIONS <page.txt; } \
		    >synopt.txt
		grep -oE -- '--[a-z-]+' help.out | sort -u >long.txt
		missing=''
		for o in \$(cat long.txt); do
			grep -qE -- \"(^|[^A-Za-z0-9-])\$o([^A-Za-z0-9-]|\\\$)\" \
			    synopt.txt || missing=\"\$missing \$o\"
		done
		test -z \"\$missing\" || {
			echo \"not in SYNOPSIS or OPTIONS:\$missing\" >&2
			exit 1
		}
	"

	test_expect_success "$name: the SYNOPSIS has the options of the usage" "
		'$prog' --help | options >usage.opts &&
		render '$page' | section SYNOPSIS | options >synopsis.opts &&
		test -s usage.opts &&
		test_cmp usage.opts synopsis.opts
	"

	test_expect_success "$name: the page has the sections of a program page" "
		'$prog' --help >help.out || exit 1
		render '$page' >page.txt || exit 1
		for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' \
		    EXAMPLES 'SEE ALSO'; do
			grep -qx \"\$s\" page.txt ||
			    { echo \"no section \$s\" >&2; exit 1; }
		done
		section 'SEE ALSO' <page.txt | grep -q 'kpipe(7)' ||
		    { echo 'SEE ALSO does not name kpipe(7)' >&2; exit 1; }
		# a program that takes -b says where brokers come from otherwise
		if grep -qE '(^|[[ ])-b ' help.out; then
			section ENVIRONMENT <page.txt | grep -q KPIPE_BROKERS ||
			    { echo 'ENVIRONMENT lacks KPIPE_BROKERS' >&2; exit 1; }
		fi
		true
	"
done

# ---- transcripts in EXAMPLES ----

# transcripts: split the EXAMPLES of a rendered page (stdin) into
# transcripts, written as tN.cmd (one command a line) and tN.exp
transcripts() {
	section EXAMPLES | awk '
		BEGIN { blank = 1 }
		/^[ \t]*$/ { intr = 0; blank = 1; next }
		blank && /^ *\$ / {
			if (n) { close(cmd); close(out) }
			n++; intr = 1
			ind = match($0, /[^ ]/) - 1
			cmd = "t" n ".cmd"; out = "t" n ".exp"
			printf "" >cmd; printf "" >out
		}
		{ blank = 0 }
		intr {
			line = substr($0, ind + 1)
			if (line ~ /^\$ /)
				print substr(line, 3) >>cmd
			else
				print line >>out
		}
	'
}

for name in $TRANSCRIPT_PAGES; do
	page=$TOP/man/man1/$name.1
	if ! [ -f "$page" ]; then
		test_skip "$name(1) EXAMPLES transcripts" "no man/man1/$name.1"
		continue
	fi
	mkdir -p "$TRASH/ex-$name"
	(cd "$TRASH/ex-$name" && render "$page" | transcripts)
	found=0
	for cmd in "$TRASH/ex-$name"/t*.cmd; do
		[ -f "$cmd" ] || continue
		found=1
		exp=${cmd%.cmd}.exp
		first=$(head -n 1 "$cmd")
		dir=run-$name-$(basename "$cmd" .cmd)
		test_expect_success "$name(1) example: $first" "
			mkdir '$dir' && cd '$dir' &&
			{ echo 'set -e'; cat '$cmd'; } >script.sh &&
			sh script.sh >actual &&
			test_cmp '$exp' actual
		"
	done
	[ $found = 1 ] || test_skip "$name(1) EXAMPLES transcripts" 'none found'
done

test_done
