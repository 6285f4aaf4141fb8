# M-Store build. `make build` puts bin/mstore, its tool links and rc.m-store in bin/.
GO      ?= go
BIN     := bin
TOOLS   := msdb_test msdb_recover msdb_checkpoint msdb_archive msdb_hotcopy msdb_printlog msdb_dump msdb_load

.PHONY: build test run clean

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/mstore ./cmd/mstore
	@for t in $(TOOLS); do ln -sf mstore $(BIN)/$$t; done
	install -m 0755 scripts/rc.m-store scripts/msdb_backup scripts/msdb_restore $(BIN)/

test:
	./scripts/test.sh

clean:
	rm -rf $(BIN)

run:
	./scripts/run.sh
