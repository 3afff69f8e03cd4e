package webhook

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// pinnedImage tags an image configured without tag or digest with the
// webhook's own version, when that is a release version; a development
// build leaves it as configured.
func pinnedImage(image, webhookVersion string) string {
	if strings.Contains(image, "@") {
		return image
	}
	last := image[strings.LastIndex(image, "/")+1:]
	if strings.Contains(last, ":") {
		return image
	}
	if _, err := version.ParseSemantic(strings.TrimPrefix(webhookVersion, "v")); err != nil || !strings.HasPrefix(webhookVersion, "v") {
		return image
	}
	return image + ":" + webhookVersion
}
