# bash completion for ws-ckpt(1)                                  -*- shell-script -*-
#
# Installed as /usr/share/bash-completion/completions/ws-ckpt; works with or
# without the bash-completion package (it needs none of its helpers).
#
# Completes the commands, each command's options, --format values, -S with
# file names, -w with directories and (except for init) the workspace ids the
# caller may see, and -s, -f and -t with the ids of the caller's snapshots, in
# the workspace given with -w if there is one. Ids come from the daemon through
# `ws-ckpt ... --format json`, bounded by `timeout 2` so that a daemon that is
# down or stuck never hangs the shell; without `timeout`, ids are not asked for.

# The commands, in the order of `ws-ckpt --help` (help itself aside).
_ws_ckpt_commands="init checkpoint rollback delete list diff pin unpin cleanup recover unregister config reload status version"

# Options of each command (those that take a value are listed in _ws_ckpt_takes_value).
_ws_ckpt_opts_of() {
	case $1 in
	init) echo "-w --workspace --format --json -h --help" ;;
	checkpoint) echo "-w --workspace -i --id -m --message --metadata --pin --skip-unchanged --format --json -h --help" ;;
	rollback) echo "-w --workspace -s --snapshot -n --steps --discard-current --preview --format --json -h --help" ;;
	delete) echo "-w --workspace -s --snapshot --force --format --json -h --help" ;;
	list) echo "-w --workspace --format --json --utc -h --help" ;;
	status) echo "-w --workspace --format --json -h --help" ;;
	diff) echo "-w --workspace -f --from -t --to --format --json -h --help" ;;
	pin | unpin) echo "-w --workspace -s --snapshot --format --json -h --help" ;;
	cleanup) echo "-w --workspace --keep --format --json -h --help" ;;
	recover) echo "-w --workspace --all --force --format --json -h --help" ;;
	unregister) echo "-w --workspace --format --json -h --help" ;;
	config)
		echo "--enable-auto-cleanup --disable-auto-cleanup --auto-cleanup-keep" \
			"--auto-cleanup-interval --health-check-interval --img-size --img-max-percent" \
			"--format --json -h --help"
		;;
	reload | version) echo "--format --json -h --help" ;;
	esac
}

_ws_ckpt_takes_value() {
	case $1 in
	-S | --socket | -w | --workspace | -i | --id | -m | --message | --metadata | -s | --snapshot | \
		-f | --from | -t | --to | --format | --keep | -n | --steps | --auto-cleanup-keep | --auto-cleanup-interval | \
		--health-check-interval | --img-size | --img-max-percent)
		return 0 ;;
	esac
	return 1
}

# The words of the command line up to the cursor, with the pieces that bash split
# at ':' and '=' joined again (snapshot ids may contain ':'; --opt=value).
# Sets _wsc_words and _wsc_cword.
_ws_ckpt_words() {
	local line=${COMP_LINE:0:COMP_POINT} w i j=-1 blank
	_wsc_words=()
	_wsc_cword=0
	for ((i = 0; i <= COMP_CWORD && i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		blank=0
		if [[ $line =~ ^[[:blank:]]+ ]]; then
			blank=1
			line=${line:${#BASH_REMATCH[0]}}
		fi
		if ((i > 1 && blank == 0 && j >= 1)) &&
			[[ $w == [:=]* || ${_wsc_words[j]} == *[:=] ]]; then
			_wsc_words[j]+=$w
		else
			((j++))
			_wsc_words[j]=$w
		fi
		[[ $line == "$w"* ]] && line=${line:${#w}}
	done
	_wsc_cword=$j
	# The cursor after a blank starts a new, empty word.
	if ((COMP_CWORD >= ${#COMP_WORDS[@]})) || [[ -z ${COMP_WORDS[COMP_CWORD]} ]]; then
		if [[ -n ${_wsc_words[j]} ]]; then
			((j++))
			_wsc_words[j]=
			_wsc_cword=$j
		fi
	fi
}

# Remove quotes and backslashes from a word as typed, and expand a leading ~.
_ws_ckpt_dequote() {
	local w=$1
	case $w in
	\'*\') w=${w:1:${#w}-2} ;;
	\"*\") w=${w:1:${#w}-2} ;;
	*) w=${w//\\/} ;;
	esac
	# shellcheck disable=SC2088 # a literal ~ as typed, expanded here
	case $w in
	"~") w=$HOME ;;
	"~/"*) w=$HOME/${w:2} ;;
	esac
	printf '%s' "$w"
}

# Run the ws-ckpt being completed (with the user's -S) for at most 2 seconds.
_ws_ckpt_query() {
	command -v timeout >/dev/null 2>&1 || return 0
	local prog
	prog=$(_ws_ckpt_dequote "${_wsc_words[0]}")
	if ! type -P -- "$prog" >/dev/null 2>&1 && [[ ! -x $prog ]]; then
		prog="ws-ckpt"
	fi
	NO_COLOR=1 timeout 2 "$prog" ${_wsc_socket:+-S "$_wsc_socket"} "$@" </dev/null 2>/dev/null
}

_ws_ckpt_ws_ids() {
	_ws_ckpt_query status --format json |
		sed -n 's/^ *"ws_id": "\(ws-[0-9a-f]\{6\}\)",\{0,1\}$/\1/p'
}

# Entries of `list --format json` are indented by two spaces and their keys by
# four, so a deeper "id" (inside metadata) never matches.
_ws_ckpt_snapshot_ids() {
	if [[ -n $1 ]]; then
		_ws_ckpt_query list -w "$1" --format json
	else
		_ws_ckpt_query list --format json
	fi | sed -n 's/^    "id": "\([A-Za-z0-9._:@+-]\{1,128\}\)",\{0,1\}$/\1/p' | sort -u
}

# Add the words of $2 that start with $1 to COMPREPLY, without the part of $1
# up to its last ':' or '=' (readline replaces only what follows it).
_ws_ckpt_add() {
	local cur=$1 lead cand
	lead=${cur%"${cur##*[:=]}"}
	while IFS= read -r cand; do
		[[ -n $cand && $cand == "$cur"* ]] && COMPREPLY+=("${cand#"$lead"}")
	done <<<"$2"
}

_ws_ckpt() {
	local _wsc_words _wsc_cword _wsc_socket=''
	local cur prev cmd='' cmd_at=0 ws='' i w opt val
	local -A seen=()
	COMPREPLY=()
	_ws_ckpt_words
	cur=${_wsc_words[_wsc_cword]}
	prev=
	((_wsc_cword > 0)) && prev=${_wsc_words[_wsc_cword - 1]}

	# Find the command, the global -S and, after the command, -w and the options used.
	for ((i = 1; i < _wsc_cword; i++)); do
		w=${_wsc_words[i]}
		if [[ -z $cmd ]]; then
			case $w in
			-S | --socket) ((i++)); _wsc_socket=$(_ws_ckpt_dequote "${_wsc_words[i]}") ;;
			--socket=*) _wsc_socket=$(_ws_ckpt_dequote "${w#--socket=}") ;;
			-S?*) _wsc_socket=$(_ws_ckpt_dequote "${w#-S}") ;;
			-*) ;;
			*) cmd=$w; cmd_at=$i ;;
			esac
			continue
		fi
		case $w in
		--*=*) opt=${w%%=*}; val=${w#*=} ;;
		-[a-zA-Z]?*) opt=${w:0:2}; val=${w:2} ;;
		-*)
			opt=$w; val=
			if _ws_ckpt_takes_value "$w" && ((i + 1 < _wsc_cword)); then
				((i++))
				val=${_wsc_words[i]}
			fi
			;;
		*) continue ;;
		esac
		seen[$opt]=1
		[[ $opt == -w || $opt == --workspace ]] && ws=$(_ws_ckpt_dequote "$val")
	done

	# The value of an option: after "-x ", "--opt " or in "--opt=".
	opt=
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}
		val=${cur#*=}
	elif _ws_ckpt_takes_value "$prev" && ((_wsc_cword - 1 != cmd_at)); then
		opt=$prev
		val=$cur
	fi
	if [[ -n $opt ]]; then
		case $opt in
		-S | --socket)
			compopt -o filenames 2>/dev/null
			_ws_ckpt_add "$cur" "$(compgen -f -- "$val" | sed "s|^|${cur%"$val"}|")"
			;;
		-w | --workspace)
			compopt -o filenames 2>/dev/null
			_ws_ckpt_add "$cur" "$(compgen -d -- "$val" | sed "s|^|${cur%"$val"}|")"
			if [[ $cmd != init && $val != */* ]]; then
				_ws_ckpt_add "$cur" "$(_ws_ckpt_ws_ids | sed "s|^|${cur%"$val"}|")"
			fi
			;;
		-s | --snapshot | -f | --from | -t | --to)
			_ws_ckpt_add "$cur" "$(_ws_ckpt_snapshot_ids "$ws" | sed "s|^|${cur%"$val"}|")"
			;;
		--format)
			_ws_ckpt_add "$cur" "$(printf '%s\n' table json | sed "s|^|${cur%"$val"}|")"
			;;
		esac
		# -i, -m, --metadata, --keep and the values of config take new text or
		# numbers: nothing to offer.
		return 0
	fi

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_ws_ckpt_add "$cur" "$(printf '%s\n' -S --socket -h --help -V --version)"
		else
			# shellcheck disable=SC2086 # a list of words
			_ws_ckpt_add "$cur" "$(printf '%s\n' $_ws_ckpt_commands help)"
		fi
		return 0
	fi

	if [[ $cmd == help ]]; then
		# shellcheck disable=SC2086 # a list of words
		((_wsc_cword == cmd_at + 1)) &&
			_ws_ckpt_add "$cur" "$(printf '%s\n' $_ws_ckpt_commands)"
		return 0
	fi

	# Options of the command, each offered once; those that exclude each other are not
	# offered once one of them is given.
	local o list=
	for o in $(_ws_ckpt_opts_of "$cmd"); do
		case $o in
		-w | --workspace) [[ -n ${seen[-w]}${seen[--workspace]}${seen[--all]} ]] && continue ;;
		--all) [[ -n ${seen[-w]}${seen[--workspace]}${seen[--all]} ]] && continue ;;
		-i | --id) [[ -n ${seen[-i]}${seen[--id]} ]] && continue ;;
		-m | --message) [[ -n ${seen[-m]}${seen[--message]} ]] && continue ;;
		-s | --snapshot) [[ -n ${seen[-s]}${seen[--snapshot]} ]] && continue ;;
		-f | --from) [[ -n ${seen[-f]}${seen[--from]} ]] && continue ;;
		-t | --to) [[ -n ${seen[-t]}${seen[--to]} ]] && continue ;;
		--format | --json) [[ -n ${seen[--format]}${seen[--json]} ]] && continue ;;
		--discard-current | --preview) [[ -n ${seen[--discard-current]}${seen[--preview]} ]] && continue ;;
		--enable-auto-cleanup | --disable-auto-cleanup)
			[[ -n ${seen[--enable-auto-cleanup]}${seen[--disable-auto-cleanup]} ]] && continue ;;
		*) [[ -n ${seen[$o]} ]] && continue ;;
		esac
		list+=$o$'\n'
	done
	[[ $cur == -* || -z $cur ]] && _ws_ckpt_add "$cur" "$list"
	return 0
}

complete -F _ws_ckpt ws-ckpt
