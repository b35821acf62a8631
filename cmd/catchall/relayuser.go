package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/catchall/catchall/forwards/relay"
	"github.com/catchall/catchall/internal/cli"
)

// defaultUsers is where the user commands keep the relay's users file.
const defaultUsers = "/etc/catchall/relay.users"

func relayUserCommand(g *globals) *cobra.Command {
	var users string
	var sf relayStoreFlags
	cmd := &cobra.Command{
		Use:   "user add|del|list",
		Short: "Manage the users who may send through the relay's submission port",
		Long: `Manage the users file of "catchall relay --submission --users FILE": one
NAME:HASH line per user, the password hashed with argon2id, written 0600 and
atomically. A running relay reads it again within seconds of a change.

With --store URL the users are kept in the relay store instead (for
"catchall relay --users store"): every relay sharing that store has them, and
sees a change within a second.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&users, "users", defaultUsers, "the users `FILE`")
	sf.register(cmd.PersistentFlags(), "keep the users in this store `URL` (sqlite:PATH or postgres://…) instead of a file")
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user, or set a user's password",
		Long: `Add a user, or set a user's password. The password is asked twice on a
terminal, or read from the first line of standard input otherwise; it never
goes on the command line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := relay.CheckUserName(args[0]); err != nil {
				return cli.Usagef("%v", err)
			}
			newHash := func() (string, error) {
				pw, err := readNewPassword(cmd.InOrStdin(), g.stderr)
				if err != nil {
					return "", cli.Exit(cli.ExitUsage, err)
				}
				return relay.HashPassword(pw)
			}
			if sf.url != "" {
				return withStore(sf, func(st *relay.Store) error {
					hash, err := newHash()
					if err == nil {
						err = st.SetUser(args[0], hash, time.Now())
					}
					if err == nil {
						fmt.Fprintf(g.stdout, "%s: %s set\n", st.Name(), args[0])
					}
					return err
				})
			}
			return editUsers(g, users, "set", args[0], func(u *relay.Users) error {
				hash, err := newHash()
				if err != nil {
					return err
				}
				u.Set(args[0], hash)
				return nil
			})
		},
	}
	del := &cobra.Command{
		Use:   "del NAME",
		Short: "Remove a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sf.url != "" {
				return withStore(sf, func(st *relay.Store) error {
					ok, err := st.DeleteUser(args[0])
					switch {
					case err != nil:
						return err
					case !ok:
						return cli.Usagef("%s: no user %s", st.Name(), args[0])
					}
					fmt.Fprintf(g.stdout, "%s: %s removed\n", st.Name(), args[0])
					return nil
				})
			}
			return editUsers(g, users, "removed", args[0], func(u *relay.Users) error {
				if !u.Delete(args[0]) {
					return cli.Usagef("%s: no user %s", users, args[0])
				}
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the users' names",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var u *relay.Users
			var err error
			if sf.url != "" {
				err = withStore(sf, func(st *relay.Store) (err error) {
					u, err = st.Users()
					return err
				})
			} else if u, err = relay.ReadUsers(users); err != nil {
				err = cli.Exit(cli.ExitUsage, err)
			}
			if err != nil {
				return err
			}
			for _, n := range u.Names() {
				fmt.Fprintln(g.stdout, n)
			}
			return nil
		},
	}
	cmd.AddCommand(add, del, list)
	return cmd
}

// withStore opens the store of --store for f.
func withStore(sf relayStoreFlags, f func(*relay.Store) error) error {
	st, err := sf.openURL(sf.url)
	if err != nil {
		return err
	}
	return errors.Join(f(st), st.Close())
}

// editUsers reads the users file, lets edit change it, writes it back and
// says what was done to name.
func editUsers(g *globals, path, done, name string, edit func(*relay.Users) error) error {
	u, err := relay.ReadUsers(path)
	if err != nil {
		return cli.Exit(cli.ExitUsage, err)
	}
	if err := edit(u); err != nil {
		return err
	}
	if err := relay.WriteUsers(path, u); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s: %s %s (%d users)\n", path, name, done, len(u.Names()))
	return nil
}

// readNewPassword asks for a password twice on a terminal, or reads the
// first line of in when it is not one.
func readNewPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return checkNewPassword(string(a))
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return checkNewPassword(strings.TrimRight(line, "\r\n"))
}

func checkNewPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", errors.New("the password is shorter than 8 characters")
	}
	return pw, nil
}
