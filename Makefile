# Entry points; each delegates to cargo or to a script in infra/.
.PHONY: serve test lambdas sam-build lint

# Vigil on http://127.0.0.1:8080, data in ./.vigil.
serve:
	cargo run --release -- serve

# Everything CI runs: installs the Python tools and moto server it needs (infra/test.sh).
test:
	infra/test.sh

# Every Lambda function built with cargo-lambda and checked against its size budget.
lambdas:
	infra/build-lambdas.sh

# `sam build` with the size settings the Lambda builds use (see infra/build-lambdas.sh).
sam-build:
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_PANIC=abort sam build --beta-features

# Formatting, clippy and the SAM template lint (the template lint needs .venv: run `make test` once).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	infra/lint-template.sh
