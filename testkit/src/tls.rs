//! TLS material for the security tests, made with the openssl command: a CA, a broker
//! certificate it signs for 127.0.0.1 and localhost (with a PKCS#12 keystore the broker reads),
//! and a second CA that signed nothing, for a client that must not trust the broker.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files in a directory of the caller's.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// PEM of the CA that signed the broker's certificate.
    pub ca_pem: PathBuf,
    /// PEM of a CA that signed nothing here.
    pub other_ca_pem: PathBuf,
    /// The broker's key and certificate chain as PKCS#12.
    pub keystore: PathBuf,
    /// The keystore's password.
    pub keystore_password: String,
}

/// Makes the CA, the other CA and the broker's keystore in `dir`.
pub fn make(dir: &Path) -> TlsMaterial {
    let f = |name: &str| dir.join(name);
    let password = "orderbus-test-keystore".to_owned();
    ca(&f("ca.key"), &f("ca.pem"), "orderbus test CA");
    ca(&f("other-ca.key"), &f("other-ca.pem"), "someone else's CA");
    openssl(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(f("broker.key"))
            .arg("-out")
            .arg(f("broker.csr")),
    );
    std::fs::write(
        f("broker.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-sha256", "-CAcreateserial"])
            .arg("-in")
            .arg(f("broker.csr"))
            .arg("-CA")
            .arg(f("ca.pem"))
            .arg("-CAkey")
            .arg(f("ca.key"))
            .arg("-extfile")
            .arg(f("broker.ext"))
            .arg("-out")
            .arg(f("broker.pem")),
    );
    openssl(
        Command::new("openssl")
            .args(["pkcs12", "-export", "-name", "broker"])
            .arg("-in")
            .arg(f("broker.pem"))
            .arg("-inkey")
            .arg(f("broker.key"))
            .arg("-certfile")
            .arg(f("ca.pem"))
            .arg("-passout")
            .arg(format!("pass:{password}"))
            .arg("-out")
            .arg(f("broker.p12")),
    );
    TlsMaterial {
        ca_pem: f("ca.pem"),
        other_ca_pem: f("other-ca.pem"),
        keystore: f("broker.p12"),
        keystore_password: password,
    }
}

fn ca(key: &Path, pem: &Path, name: &str) {
    openssl(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(pem)
            .arg("-subj")
            .arg(format!("/CN={name}")),
    );
}

fn openssl(command: &mut Command) {
    let out = command.output().expect("run openssl");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
