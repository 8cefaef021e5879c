# StreamHouse tasks. `just --list` explains each; `just run` and `just test`
# are the two a newcomer needs.

set shell := ["bash", "-euo", "pipefail", "-c"]

gobin := `go env GOPATH` + "/bin"
export PATH := gobin + ":" + env_var('PATH')

versitygw_version := "v1.8.0"
data_dir := env_var_or_default("STREAMHOUSE_DATA_DIR", ".streamhouse")

# List the recipes.
default:
    @just --list

# Run a whole dev cell on embedded defaults, keeping its data in ./.streamhouse.
run *args:
    go build -o .bin/streamhouse ./cmd/streamhouse
    exec .bin/streamhouse dev --data-dir {{data_dir}} {{args}}

# Run lint, then every test with the race detector (needs PostgreSQL and versitygw: `just deps`).
test: deps lint
    go test -race -timeout 12m -count 1 ./...

# gofmt, go vet, staticcheck and the project's own rules (import directions).
lint:
    @test -z "$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
    go vet ./...
    go tool staticcheck ./...
    go test -count 1 ./internal/lint/

# Run every benchmark and print the results as a table (bench.txt keeps the raw output), then the cell benchmark.
bench:
    go test -run '^$' -bench . -benchmem -count 5 -timeout 15m ./... | tee bench.txt
    go run ./internal/benchtable -ref encode=lz4-compress -ref decode=lz4-decompress -ref wal=raw-async < bench.txt
    just bench-cell

# Load a real dev cell through its public APIs (produce, consume, end to end, memory, PUTs per GB) beside its floors; table in bench-cell.md (about 5 minutes; `just bench-cell --help` for the matrix).
bench-cell *args:
    go run ./cmd/streambench --out bench-cell.md {{args}}

# Build the console (dashboard/web, TypeScript) into dashboard/dist, which the binary embeds: commit the result.
web:
    cd dashboard/web && npm ci --no-audit --no-fund && npm run build

# Fail when the committed console build (dashboard/dist) is not what dashboard/web builds now.
web-check:
    #!/usr/bin/env bash
    set -euo pipefail
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
    cd dashboard/web && npm ci --no-audit --no-fund >/dev/null && CONSOLE_OUT="$out" npm run --silent build
    diff -r "$out" ../dist || { echo "dashboard/dist is stale: run 'just web' and commit it" >&2; exit 1; }

# Fuzz the segment decoder (default 60s; `just fuzz 5m`).
fuzz time="60s":
    go test -run '^$' -fuzz '^FuzzDecodeSegment$' -fuzztime {{time}} ./partition/

# Install what the tests need and is missing: versitygw (go install) and, as root on Debian, PostgreSQL and Chromium.
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v versitygw >/dev/null; then
        echo "installing versitygw {{versitygw_version}} into {{gobin}} (about two minutes, once)"
        go install github.com/versity/versitygw/cmd/versitygw@{{versitygw_version}}
    fi
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing PostgreSQL from Debian's packages"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        else
            echo "PostgreSQL is missing: install it (Debian: sudo apt-get install postgresql; macOS: brew install postgresql)" >&2
            echo "or point the tests at a server with STREAMHOUSE_TEST_POSTGRES_URL=postgres://..." >&2
            exit 1
        fi
    fi
    if ! command -v chromium >/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing Chromium from Debian's packages (the console's browser test)"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        else
            echo "Chromium is missing (the console's browser test): install it (Debian: sudo apt-get install chromium)" >&2
            exit 1
        fi
    fi

# Plugin versions of `just gen`: protoc-gen-go matches the google.golang.org/protobuf module in go.mod.
protoc_gen_go_version := "v1.36.12"
protoc_gen_go_grpc_version := "v1.6.2"

# Regenerate the gRPC code from proto/ (needs protoc: apt-get install protobuf-compiler).
gen:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v protoc >/dev/null || { echo "protoc is missing: apt-get install protobuf-compiler (or brew install protobuf)" >&2; exit 1; }
    if [ "$(go version -m {{gobin}}/protoc-gen-go 2>/dev/null | awk '$1 == "mod" {print $3}')" != "{{protoc_gen_go_version}}" ]; then
        go install google.golang.org/protobuf/cmd/protoc-gen-go@{{protoc_gen_go_version}}
    fi
    if [ "$(go version -m {{gobin}}/protoc-gen-go-grpc 2>/dev/null | awk '$1 == "mod" {print $3}')" != "{{protoc_gen_go_grpc_version}}" ]; then
        go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@{{protoc_gen_go_grpc_version}}
    fi
    protoc -I proto \
        --go_out=proto --go_opt=paths=source_relative \
        --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
        proto/streamhouse/v1/*.proto

# The long fault-injection run: every fault of internal/e2e's TestChaos 20 times (about 25 minutes; `just chaos 5` for fewer), table in chaos-report.md.
chaos rounds="20": deps
    STREAMHOUSE_CHAOS_ROUNDS={{rounds}} STREAMHOUSE_CHAOS_REPORT={{justfile_directory()}}/chaos-report.md go test -count 1 -timeout 90m -run '^TestChaos$' -v ./internal/e2e/ | grep -v '^=== ' | tee chaos.log | grep -E '^\s+chaos_test|^---|^ok|^FAIL|\|'
