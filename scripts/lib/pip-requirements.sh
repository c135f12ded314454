# Installs a requirements file into a venv once: a stamp of the file's SHA-256 in the venv skips the
# install while the file is unchanged. Sourced by the test suites' install scripts.
#
#   install_requirements NAME REQUIREMENTS VENV
install_requirements() {
    local name=$1 requirements=$2 venv=$3
    local stamp="$venv/.deja-$name-requirements.sha256"
    local want
    want=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "[$name/install] requirements already installed"
        return 0
    fi
    "$venv/bin/python" -m pip install -q -r "$requirements"
    echo "$want" > "$stamp"
    echo "[$name/install] installed $(tr '\n' ' ' < "$requirements")"
}
