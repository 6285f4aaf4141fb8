package main
import (_ "go.etcd.io/bbolt"; _ "github.com/spf13/cobra"; _ "golang.org/x/sys/unix"; _ "golang.org/x/term")
func main(){}
