// An independent check of cosign signature layers: containers/image's own sigstore payload parser
// (signature/internal.UntrustedSigstorePayload, Debian's golang-github-containers-image-dev source), after
// the signature is verified over the payload bytes as its VerifySigstorePayload does (SHA-256; ECDSA
// ASN.1, Ed25519 or RSA PKCS#1 v1.5) with Go's crypto. Debian replaced VerifySigstorePayload's body with
// "sigstore disabled", so skopeo itself cannot run it; this program restores that body. Built in a
// temporary GOPATH by test/helpers/containers-image.ts (an internal package: the program must sit below
// github.com/containers/image/v5/signature/).
//
// Usage: verifier PUB.pem PAYLOAD-FILE BASE64-SIGNATURE DOCKER-REFERENCE DIGEST; prints ACCEPT (exit 0)
// or REJECT: reason (exit 1).
//
// Or: verifier sign KEY.pem DOCKER-REFERENCE DIGEST; writes the payload containers/image creates
// (internal.NewUntrustedSigstorePayload, as `skopeo copy --sign-by-sigstore-private-key` signs) and its
// ECDSA signature, each base64 on its own line.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/containers/image/v5/signature/internal"
	digest "github.com/opencontainers/go-digest"
)

func sign(keyFile, reference, manifestDigest string) error {
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return fmt.Errorf("no PEM private key")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("not an ECDSA key")
	}
	payload, err := json.Marshal(internal.NewUntrustedSigstorePayload(digest.Digest(manifestDigest), reference))
	if err != nil {
		return err
	}
	h := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		return err
	}
	fmt.Println(base64.StdEncoding.EncodeToString(payload))
	fmt.Println(base64.StdEncoding.EncodeToString(sig))
	return nil
}

func verify(pub crypto.PublicKey, payload, sig []byte) error {
	h := sha256.Sum256(payload)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, h[:], sig) {
			return fmt.Errorf("invalid ECDSA signature")
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(k, payload, sig) {
			return fmt.Errorf("invalid Ed25519 signature")
		}
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], sig)
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

func main() {
	if len(os.Args) == 5 && os.Args[1] == "sign" {
		if err := sign(os.Args[2], os.Args[3], os.Args[4]); err != nil {
			fmt.Println("ERROR:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 6 {
		fmt.Println("usage: cginterop PUB.pem PAYLOAD BASE64SIG REFERENCE DIGEST")
		os.Exit(2)
	}
	pemBytes, _ := os.ReadFile(os.Args[1])
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		fmt.Println("REJECT: no PEM public key")
		os.Exit(1)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		fmt.Println("REJECT:", err)
		os.Exit(1)
	}
	payload, _ := os.ReadFile(os.Args[2])
	sig, err := base64.StdEncoding.DecodeString(os.Args[3])
	if err != nil {
		fmt.Println("REJECT: signature is not base64:", err)
		os.Exit(1)
	}
	if err := verify(pub, payload, sig); err != nil {
		fmt.Println("REJECT:", err)
		os.Exit(1)
	}
	var p internal.UntrustedSigstorePayload
	if err := json.Unmarshal(payload, &p); err != nil {
		fmt.Println("REJECT:", err)
		os.Exit(1)
	}
	if string(p.UntrustedDockerManifestDigest) != os.Args[5] {
		fmt.Println("REJECT: digest", p.UntrustedDockerManifestDigest)
		os.Exit(1)
	}
	if p.UntrustedDockerReference != os.Args[4] {
		fmt.Println("REJECT: reference", p.UntrustedDockerReference)
		os.Exit(1)
	}
	fmt.Println("ACCEPT")
}
