package relay

import (
	"fmt"
	"sync"
	"testing"
)

// TestUsersCheckRemembers: a login that passed is answered from memory (the
// hash is not looked at again), a wrong password never is, and a reloaded
// users file starts afresh.
func TestUsersCheckRemembers(t *testing.T) {
	h, err := HashPassword("right password")
	if err != nil {
		t.Fatal(err)
	}
	u := &Users{hashes: map[string]string{"me": h}}
	if !u.Check("me", "right password") {
		t.Fatal("the right password refused")
	}
	u.hashes["me"] = "not a hash at all" // only memory can still say yes
	if !u.Check("me", "right password") {
		t.Error("a login that passed was checked again")
	}
	if u.Check("me", "wrong password") || u.Check("you", "right password") {
		t.Error("memory said yes to another login")
	}
	fresh := &Users{hashes: map[string]string{"me": "not a hash at all"}}
	if fresh.Check("me", "right password") {
		t.Error("a new Users remembered a login of another")
	}
}

// TestUsersCheckBoundedMemory: many clients logging in at once do not
// each hold argon2's 19 MiB: the computations wait for a free slot.
func TestUsersCheckBoundedMemory(t *testing.T) {
	h, err := HashPassword("right password")
	if err != nil {
		t.Fatal(err)
	}
	u := &Users{hashes: map[string]string{"me": h}}
	// One slot per core: allowed, the slots' memory and a margin of 8 more
	// (other tests of the package run in parallel on a busy machine);
	// twenty logins more than the slots.
	allowed, logins := cap(argonSlots)+8, cap(argonSlots)+20
	grew := heapGrowth(func() {
		var wg sync.WaitGroup
		for i := range logins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.Check("me", fmt.Sprint("wrong ", i))
			}()
		}
		wg.Wait()
	})
	// Unbounded, they all hold 19 MiB at once; bounded, one per slot.
	if limit := int64(allowed) * argonMemory << 10; grew > limit {
		t.Errorf("%d logins at once grew the heap by %d MiB (%d slots of %d MiB); want at most %d MiB", logins, grew>>20, cap(argonSlots), argonMemory>>10, limit>>20)
	}
}
