// Command standins installs or runs the local AWS stand-ins of a checkout.
//
//	go run ./shared/devtools/standins/cmd/standins install   # what `make tools` runs
//	go run ./shared/devtools/standins/cmd/standins start     # serve until interrupted
//
// start prints the environment that points the AWS CLI and SDKs at the
// stand-ins, as `export` lines.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/devicepass/devicepass/shared/devtools/standins"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "standins:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 || (args[0] != "install" && args[0] != "start") {
		return fmt.Errorf("usage: standins install|start")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := standins.Root()
	if err != nil {
		return err
	}
	began := time.Now()
	if err := standins.Install(ctx, root); err != nil {
		return err
	}
	if args[0] == "install" {
		fmt.Printf("stand-ins installed in %s/.tools (%s)\n", root, time.Since(began).Round(time.Second))
		return nil
	}
	s, err := standins.Start(ctx, root)
	if err != nil {
		return err
	}
	defer s.Stop()
	for _, kv := range s.Env() {
		fmt.Printf("export %s\n", kv)
	}
	fmt.Fprintln(os.Stderr, "stand-ins running; Ctrl-C stops them")
	<-ctx.Done()
	return nil
}
