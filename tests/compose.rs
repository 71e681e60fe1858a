//! docker-compose.yml cannot run here (no Docker engine), so this checks it is consistent: the
//! services the README promises exist, dependencies point at real services with health checks,
//! Kafka runs in KRaft mode with the listener orderbus is pointed at, orderbus's environment is
//! a valid orderbus config, and the README documents every published port and variable.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_yaml_ng::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("compose file");
    serde_yaml_ng::from_str(&text).expect("valid YAML")
}

fn services(c: &Value) -> &serde_yaml_ng::Mapping {
    c["services"].as_mapping().expect("services")
}

fn name(v: &Value) -> String {
    v.as_str().expect("string key").to_owned()
}

fn env_of(service: &Value) -> Vec<(String, String)> {
    match &service["environment"] {
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => panic!("env value {other:?}"),
                };
                (name(k), v)
            })
            .collect(),
        Value::Null => Vec::new(),
        other => panic!("use the mapping form for environment: {other:?}"),
    }
}

fn host_ports(service: &Value) -> Vec<String> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    p.as_str()
                        .expect("port string")
                        .split(':')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_stack_has_every_service_and_dependencies_are_sound() {
    let c = compose();
    let s = services(&c);
    let names: BTreeSet<String> = s.keys().map(name).collect();
    for required in [
        "kafka",
        "postgres",
        "redis",
        "jaeger",
        "prometheus",
        "grafana",
        "orderbus-init",
    ] {
        assert!(
            names.contains(required),
            "service {required} missing: {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.contains("zookeeper")), "KRaft only");
    for (service_name, service) in s {
        let service_name = name(service_name);
        assert!(
            service.get("image").is_some() || service.get("build").is_some(),
            "{service_name} has neither image nor build"
        );
        if let Some(deps) = service["depends_on"].as_mapping() {
            for (dep, how) in deps {
                let dep = name(dep);
                assert!(
                    names.contains(&dep),
                    "{service_name} depends on unknown {dep}"
                );
                let condition = how["condition"]
                    .as_str()
                    .expect("depends_on with a condition");
                if condition == "service_healthy" {
                    assert!(
                        s[dep.as_str()].get("healthcheck").is_some(),
                        "{service_name} waits for {dep} to be healthy, but it has no healthcheck"
                    );
                }
            }
        }
        let long_running = service.get("restart").and_then(Value::as_str) != Some("no");
        if long_running {
            assert!(
                service.get("healthcheck").is_some(),
                "{service_name} has no healthcheck"
            );
        }
    }
}

#[test]
fn kafka_is_kraft_and_orderbus_points_at_its_internal_listener() {
    let c = compose();
    let s = services(&c);
    let kafka: std::collections::HashMap<String, String> =
        env_of(&s["kafka"]).into_iter().collect();
    assert!(
        kafka["KAFKA_PROCESS_ROLES"].contains("controller"),
        "KRaft mode"
    );
    assert_eq!(kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"], "false");
    // The stack runs the Kafka the tests run on.
    let pom = std::fs::read_to_string(root().join("scripts/kafka/pom.xml")).expect("pom");
    let harness = pom
        .split("<kafka.version>")
        .nth(1)
        .and_then(|rest| rest.split("</kafka.version>").next())
        .expect("kafka.version in scripts/kafka/pom.xml");
    assert_eq!(
        s["kafka"]["image"].as_str(),
        Some(format!("apache/kafka:{harness}").as_str()),
        "docker-compose's Kafka is the harness's {harness}"
    );
    let advertised: Vec<&str> = kafka["KAFKA_ADVERTISED_LISTENERS"].split(',').collect();
    let jaeger: std::collections::HashMap<String, String> =
        env_of(&s["jaeger"]).into_iter().collect();
    assert_eq!(jaeger["COLLECTOR_OTLP_ENABLED"], "true");
    assert!(
        host_ports(&s["jaeger"]).contains(&"4317".to_owned()),
        "OTLP gRPC published"
    );

    let orderbus_services: Vec<(&Value, &Value)> = s
        .iter()
        .filter(|(_, v)| {
            v.get("build").is_some()
                || v["image"]
                    .as_str()
                    .is_some_and(|i| i.starts_with("orderbus"))
        })
        .collect();
    assert!(!orderbus_services.is_empty());
    for (service_name, service) in orderbus_services {
        let dockerfile = service["build"]["dockerfile"]
            .as_str()
            .unwrap_or("deploy/Dockerfile");
        assert!(root().join(dockerfile).exists(), "{dockerfile} missing");
        let env = env_of(service);
        let bootstrap = &env
            .iter()
            .find(|(k, _)| k == "ORDERBUS_KAFKA__BOOTSTRAP_SERVERS")
            .expect("orderbus services set the broker")
            .1;
        assert!(
            advertised
                .iter()
                .any(|l| l.ends_with(&format!("//{bootstrap}"))),
            "{service_name:?} uses {bootstrap}, not one of Kafka's advertised listeners {advertised:?}"
        );
        // The environment must be a config orderbus accepts.
        let out = Command::new(env!("CARGO_BIN_EXE_orderbus"))
            .current_dir(std::env::temp_dir())
            .env_clear()
            .envs(
                env.iter()
                    .filter(|(k, _)| k.starts_with("ORDERBUS_"))
                    .cloned(),
            )
            .args(["config", "check"])
            .output()
            .expect("run orderbus");
        assert!(
            out.status.success(),
            "{service_name:?} environment is not a valid config: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A daemon's `--group` must be a group its environment defines (environment keys are
        // lower-cased, so `cache-warming` could never match `..._CACHE_WARMING__...`).
        let command: Vec<String> = service["command"]
            .as_sequence()
            .map(|c| c.iter().map(name).collect())
            .unwrap_or_default();
        if let Some(at) = command.iter().position(|a| a == "--group") {
            let group = &command[at + 1];
            let shown = Command::new(env!("CARGO_BIN_EXE_orderbus"))
                .current_dir(std::env::temp_dir())
                .env_clear()
                .envs(
                    env.iter()
                        .filter(|(k, _)| k.starts_with("ORDERBUS_"))
                        .cloned(),
                )
                .args(["config", "show"])
                .output()
                .expect("run orderbus");
            let shown = String::from_utf8_lossy(&shown.stdout);
            assert!(
                shown.contains(&format!("[groups.{group}]")),
                "{service_name:?} runs --group {group}, which its environment does not define:\n{shown}"
            );
        }
    }
}

#[test]
fn readme_documents_ports_services_and_variables() {
    let c = compose();
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    for (service_name, service) in services(&c) {
        let service_name = name(service_name);
        assert!(
            readme.contains(&format!("`{service_name}`")),
            "README does not mention `{service_name}`"
        );
        for port in host_ports(service) {
            assert!(
                readme.contains(&port),
                "README does not list port {port} of {service_name}"
            );
        }
        for (k, _) in env_of(service)
            .iter()
            .filter(|(k, _)| k.starts_with("ORDERBUS_"))
        {
            let generic = k.split("__").next().unwrap_or(k);
            assert!(
                readme.contains(k) || readme.contains(generic),
                "README does not explain {k}"
            );
        }
    }
}

#[test]
fn prometheus_scrapes_only_services_of_the_stack() {
    let c = compose();
    let names: BTreeSet<String> = services(&c).keys().map(name).collect();
    let text =
        std::fs::read_to_string(root().join("deploy/prometheus.yml")).expect("prometheus.yml");
    let prom: Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let jobs = prom["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs");
    assert!(!jobs.is_empty());
    for job in jobs {
        for sc in job["static_configs"].as_sequence().expect("static_configs") {
            for t in sc["targets"].as_sequence().expect("targets") {
                let host = t.as_str().expect("target").split(':').next().unwrap_or("");
                assert!(
                    names.contains(host),
                    "scrape target {host} is not a compose service"
                );
            }
        }
    }
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).expect("Dockerfile");
    assert!(
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM ")) >= 2,
        "multi-stage"
    );
    assert!(dockerfile.contains("--bin orderbus"));
}
