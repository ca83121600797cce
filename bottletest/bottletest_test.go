package bottletest

import (
	"errors"
	"strings"
	"testing"
)

func TestRequiredFailsUnderBottleRequireDocker(t *testing.T) {
	missing := errors.New("dial unix /var/run/docker.sock: connect: no such file or directory")

	t.Setenv("BOTTLE_REQUIRE_DOCKER", "")
	if ok, err := required("a Docker daemon", missing); ok || err != nil {
		t.Errorf("without BOTTLE_REQUIRE_DOCKER: %v, %v; want false, nil (the script skips)", ok, err)
	}
	if ok, err := required("a Docker daemon", nil); !ok || err != nil {
		t.Errorf("available: %v, %v; want true, nil", ok, err)
	}

	t.Setenv("BOTTLE_REQUIRE_DOCKER", "1")
	ok, err := required("a Docker daemon", missing)
	if ok || err == nil || !strings.Contains(err.Error(), "BOTTLE_REQUIRE_DOCKER=1 but a Docker daemon is not available: dial unix") {
		t.Errorf("with BOTTLE_REQUIRE_DOCKER=1: %v, %v; want an error that fails the test", ok, err)
	}
}

func TestUnknownCondition(t *testing.T) {
	if _, err := condition("dokcer"); err == nil || !strings.Contains(err.Error(), "[docker], [compose] and [root]") {
		t.Errorf("condition(dokcer) = %v; want an error naming the known conditions", err)
	}
}
