"""Builders are pure functions of the spec: golden files pin their output (UPDATE_GOLDEN=1 rewrites)."""

import os
from pathlib import Path

import pytest
import yaml

from predictflow_operator.api.models import parse_spec
from predictflow_operator.builders import elasticache, feast_config, materialization, network_policy, redis, serving
from predictflow_operator.builders.common import MAX_CHILD_NAME, Owner, child_name
from predictflow_operator.builders.store import target_of

pytestmark = pytest.mark.unit
GOLDEN = Path(__file__).parent / "golden"
OWNER = Owner("churn", "ml", "0b9c3f6e-0000-4000-8000-000000000001")
RUNTIME, SERVING = "predictflow/runtime:0.1.0", "predictflow/serving:0.1.0"
PASSWORDS = {user: f"not-a-real-{user}-password" for user in redis.PASSWORD_KEYS}

SPECS = {
    "redis-default": {"project": "churn"},
    "redis-replicas": {
        "project": "churn",
        "onlineStore": {"keyTTLSeconds": 86400, "redis": {"replicas": 2, "maxMemory": "512mb", "maxMemoryPolicy": "volatile-ttl", "persistence": {"size": "5Gi", "storageClassName": "fast"}, "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}, "metrics": {"enabled": True, "resources": {"limits": {"memory": "64Mi"}}}}},
        "materialization": {"schedule": "@hourly", "suspend": True},
        "serving": {
            "replicas": 3, "onStoreDown": "unavailable", "livenessChecksRedis": False, "ttlExpiredFeatures": "present",
            "networkPolicy": {"enabled": True, "allowedNamespaceLabels": {"team": "checkout"}, "allowedPodLabels": {"app": "checkout"}},
        },
    },
    "redis-tls": {"project": "churn", "onlineStore": {"redis": {"tls": {"secretName": "churn-redis-tls"}, "metrics": {"enabled": True}}}},
    "redis-cluster": {"project": "churn", "onlineStore": {"redis": {"shards": 3, "replicas": 1, "tls": {"secretName": "churn-redis-tls"}}}},
    "placement-autoscaling": {
        "project": "churn",
        "featureRepo": {"image": "example/churn-repo:1", "path": "/repo"},
        "onlineStore": {"redis": {
            "maxMemory": "2gb", "resources": {"limits": {"cpu": "4"}},
            "nodeSelector": {"pool": "memory"}, "tolerations": [{"key": "dedicated", "value": "redis", "effect": "NoSchedule"}],
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "redis"}}}}]}},
            "priorityClassName": "feature-store-critical",
        }},
        "materialization": {"resources": {"requests": {"memory": "4Gi"}}, "tolerations": [{"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}], "topologySpreadConstraints": []},
        "serving": {
            "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 10, "targetCPUUtilizationPercentage": 60},
            "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "256Mi"}},
            "topologySpreadConstraints": [{"topologyKey": "topology.kubernetes.io/zone", "maxSkew": 2, "minDomains": 3}],
            "priorityClassName": "serving-high",
        },
    },
    "elasticache-existing": {
        "project": "churn",
        "featureRepo": {"image": "example/churn-repo:1", "path": "/repo"},
        "offlineStore": {"path": "s3://features/churn"},
        "onlineStore": {"type": "elasticache", "elasticache": {"mode": "existing", "endpoint": "master.churn.cache.amazonaws.com:6379", "authSecretRef": {"name": "churn-ec", "key": "token"}, "caSecretRef": {"name": "churn-ca", "key": "ca.pem"}}},
    },
}


def render(case: str) -> list[dict]:
    spec = parse_spec(SPECS[case])
    if spec.online_store.type == "redis":
        name = redis.instance(OWNER, spec)
        store = target_of(redis.record(OWNER, spec))
        cluster = redis.clustered(spec.online_store.redis)
        passwords = {user: PASSWORDS[user] for user in redis.users(cluster)}
        docs = [redis.password_secret(OWNER, name, passwords), redis.acl_secret(OWNER, name, passwords, cluster), redis.config_map(OWNER, spec, name), *redis.services(OWNER, name, cluster), redis.stateful_set(OWNER, spec, name, "secret-checksum", "redis:7-alpine", "predictflow/redis:0.1.0")]
        docs += [budget for budget in [redis.pod_disruption_budget(OWNER, spec, name)] if budget]
    else:
        store = target_of(elasticache.existing_record(spec.online_store.elasticache))
        docs = []
    identity = materialization.backfill_identity(spec, store, RUNTIME, 1)
    docs += [
        feast_config.config_map(OWNER, spec, store),
        materialization.backfill_job(OWNER, spec, store, RUNTIME, identity),
        materialization.cron_job(OWNER, spec, store, RUNTIME, "config-checksum"),
        serving.deployment(OWNER, spec, store, SERVING, "config-checksum"),
        serving.service(OWNER),
    ]
    docs.append(network_policy.online_store(OWNER, spec, network_policy.operator_peer("predictflow-system", {"app.kubernetes.io/name": "predictflow-operator"})))
    optional = [serving.pod_disruption_budget(OWNER, spec), serving.horizontal_pod_autoscaler(OWNER, spec), network_policy.serving_policy(OWNER, spec)]
    return docs + [doc for doc in optional if doc]


@pytest.mark.parametrize("case", SPECS)
def test_manifests_match_the_golden_file(case):
    rendered = yaml.safe_dump_all(render(case), sort_keys=True)
    golden = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text()


@pytest.mark.parametrize("case", SPECS)
def test_builders_are_deterministic(case):
    assert render(case) == render(case)


def _pod_specs(docs):
    for doc in docs:
        spec = doc.get("spec", {})
        template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
        if template:
            yield doc["metadata"]["name"], template["spec"]


@pytest.mark.parametrize("case", SPECS)
def test_no_secret_value_in_configmaps_or_pod_specs(case):
    docs = render(case)
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            assert "not-a-real-password" not in yaml.safe_dump(doc)
    for name, pod in _pod_specs(docs):
        assert "not-a-real-password" not in yaml.safe_dump(pod), name
        for container in pod["containers"]:
            for env in container.get("env", []):
                if "PASSWORD" in env["name"] or "AUTH" in env["name"]:
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], (name, env["name"])


@pytest.mark.parametrize("case", SPECS)
def test_every_pod_runs_restricted(case):
    for name, pod in _pod_specs(render(case)):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["readOnlyRootFilesystem"] is True, name


def test_feast_config_points_at_the_store_with_the_password_as_a_variable():
    spec = parse_spec(SPECS["elasticache-existing"])
    rendered = yaml.safe_load(feast_config.feature_store_yaml(spec, target_of(elasticache.existing_record(spec.online_store.elasticache))))
    assert rendered["online_store"] == {
        "type": "redis",
        "connection_string": "master.churn.cache.amazonaws.com:6379,ssl=true,ssl_ca_certs=/etc/predictflow/tls/ca.crt,password=${REDIS_PASSWORD_AS_JSON}",
    }
    assert rendered["entity_key_serialization_version"] == 3 and rendered["project"] == "churn"
    with_ttl = yaml.safe_load(feast_config.feature_store_yaml(parse_spec(SPECS["redis-replicas"]), target_of(redis.record(OWNER, parse_spec(SPECS["redis-default"])))))
    assert with_ttl["online_store"]["key_ttl_seconds"] == 86400
    assert with_ttl["online_store"]["connection_string"] == "churn-redis.ml.svc:6379,username=${REDIS_USERNAME},password=${REDIS_PASSWORD_AS_JSON}"


def _env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_serving_gets_the_reader_and_materialization_the_writer_of_the_in_cluster_redis():
    spec = parse_spec(SPECS["redis-default"])
    store = target_of(redis.record(OWNER, spec))
    served = _env(serving.deployment(OWNER, spec, store, SERVING, "c")["spec"]["template"]["spec"]["containers"][0])
    assert served["REDIS_USERNAME"] == "serving"
    assert served["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "churn-redis-auth", "key": "serving-password"}}
    cron = materialization.cron_job(OWNER, spec, store, RUNTIME, "c")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    backfill = materialization.backfill_job(OWNER, spec, store, RUNTIME, "0123456789")["spec"]["template"]["spec"]
    for pod in (cron, backfill):
        env = _env(pod["containers"][0])
        assert env["REDIS_USERNAME"] == "materialization"
        assert env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "churn-redis-auth", "key": "materialization-password"}}


def test_elasticache_keeps_its_single_auth_token_for_every_role():
    spec = parse_spec(SPECS["elasticache-existing"])
    store = target_of(elasticache.existing_record(spec.online_store.elasticache))
    assert store.reader == store.writer and store.reader.username == "" and not store.has_users
    env = _env(serving.deployment(OWNER, spec, store, SERVING, "c")["spec"]["template"]["spec"]["containers"][0])
    assert "REDIS_USERNAME" not in env and env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "churn-ec", "key": "token"}}


def test_the_acl_file_disables_default_and_holds_hashes_only():
    acl = redis.acl_file(PASSWORDS)
    lines = acl.splitlines()
    assert not any(line.startswith("user topology ") for line in lines)  # no cluster to form
    assert lines[0] == "user default reset"  # off, no password, no commands
    assert all(password not in acl for password in PASSWORDS.values())
    serving_line = next(line for line in lines if line.startswith("user serving "))
    assert " on #" in serving_line and "+hmget" in serving_line
    assert not any(word in serving_line for word in ("+@", "+hset", "+del", "+flushall", "+config", "&"))
    writer = next(line for line in lines if line.startswith("user materialization "))
    assert "+hset" in writer and "+@" not in writer and "+flushall" not in writer and "+config" not in writer


def test_a_password_that_cannot_be_placed_is_refused_naming_its_key_never_itself():
    secret = redis.password_secret(OWNER, "churn-redis", PASSWORDS)
    assert redis.passwords_of(secret, True) == PASSWORDS
    for bad in ("abc\nuser default on nopass ~* +@all", "two words", "a,b", "x=y", "${HOME}", 'q"uote', "12345", "true", "", "caf\u00e9"):
        broken = redis.password_secret(OWNER, "churn-redis", {**PASSWORDS, "serving": bad})
        with pytest.raises(ValueError) as refused:
            redis.passwords_of(broken, False)
        assert "churn-redis-auth key 'serving-password'" in str(refused.value)
        assert len(bad) < 5 or bad not in str(refused.value)


def test_a_cluster_s_clients_may_read_the_slot_map_and_only_the_operator_may_form_it():
    lines = {line.split()[1]: line for line in redis.acl_file(PASSWORDS, cluster=True).splitlines()}
    for client in ("serving", "materialization", "monitoring"):
        assert "+cluster|slots +command" in lines[client] and "+cluster|meet" not in lines[client]
    topology = lines["topology"]
    assert "+cluster|meet" in topology and "~" not in topology and "+hmget" not in topology and "+cluster|reset" not in topology
    assert "+cluster" not in lines["exporter"]
    # the pods' own user hands a primary's slots to its replica before the pod stops, and nothing more
    assert "+cluster|failover" in lines["replication"] and "+cluster|meet" not in lines["replication"] and "~" not in lines["replication"]


def test_a_cluster_s_shard_count_names_its_instance_and_its_pods_spread():
    single, sharded = parse_spec({"project": "churn"}), parse_spec(SPECS["redis-cluster"])
    assert redis.instance(OWNER, single) == "churn-redis" and redis.instance(OWNER, sharded) != "churn-redis"
    resized = parse_spec({**SPECS["redis-cluster"], "onlineStore": {"redis": {**SPECS["redis-cluster"]["onlineStore"]["redis"], "shards": 4}}})
    assert redis.instance(OWNER, resized) != redis.instance(OWNER, sharded)
    assert redis.record(OWNER, sharded).shards == 3 and redis.record(OWNER, single).shards == 0
    pods = redis.stateful_set(OWNER, sharded, "churn-redis-x", "c", "redis:7-alpine")["spec"]
    assert pods["replicas"] == 6 and pods["podManagementPolicy"] == "Parallel"
    assert [c["topologyKey"] for c in pods["template"]["spec"]["topologySpreadConstraints"]] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert redis.pod_disruption_budget(OWNER, single, "churn-redis") is None
    assert redis.pod_disruption_budget(OWNER, sharded, "churn-redis-x")["spec"]["maxUnavailable"] == 1


def test_the_redis_pods_hold_no_password_in_their_spec_and_run_no_secret_through_a_shell():
    spec = parse_spec(SPECS["redis-replicas"])
    pod = redis.stateful_set(OWNER, spec, "churn-redis", "c", "redis:7-alpine")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert [e["name"] for e in container["env"]] == ["REDISCLI_AUTH"]
    assert container["env"][0]["valueFrom"] == {"secretKeyRef": {"name": "churn-redis-acl", "key": "probe-password"}}
    assert "$" not in container["command"][2].replace('"$HOSTNAME"', "")
    assert container["readinessProbe"]["exec"]["command"] == ["redis-cli", "--user", "replication", "ping"]
    conf = redis.config_map(OWNER, spec, "churn-redis")["data"]
    assert "protected-mode yes" in conf["primary.conf"] and "aclfile /etc/redis-auth/users.acl" in conf["primary.conf"]
    assert "include /etc/redis-auth/replica-auth.conf" in conf["replica.conf"]
    assert "requirepass" not in conf["primary.conf"] + conf["replica.conf"]


def test_the_repo_init_container_copies_without_a_shell():
    path = '/repo"; touch /tmp/pwned; echo "$(id)'  # the CRD refuses it; the builder must not depend on that
    spec = parse_spec({**SPECS["elasticache-existing"], "featureRepo": {"image": "example/churn-repo:1"}})
    spec = spec.model_copy(update={"feature_repo": spec.feature_repo.model_copy(update={"path": path})})
    from predictflow_operator.builders.runtime_pod import repo_init_containers

    [init] = repo_init_containers(spec)
    assert init["command"] == ["cp", "-R", "--", path + "/.", "/feature-repo/"]


def test_redis_keeps_aof_on_the_primary_and_snapshots_on_replicas():
    single = parse_spec(SPECS["redis-default"]).online_store.redis
    primary = redis.redis_conf(single, "primary")
    assert "appendonly yes" in primary and "appendfsync everysec" in primary and "save 3600" in primary
    replicated = parse_spec(SPECS["redis-replicas"]).online_store.redis
    assert 'save ""' in redis.redis_conf(replicated, "primary")
    assert "appendonly yes" in redis.redis_conf(replicated, "primary")
    assert "save 3600" in redis.redis_conf(replicated, "replica")
    assert "maxmemory 512mb" in redis.redis_conf(replicated, "replica")
    no_persistence = parse_spec({"project": "p", "onlineStore": {"redis": {"persistence": {"enabled": False}}}}).online_store.redis
    assert "appendonly no" in redis.redis_conf(no_persistence, "primary")


def test_a_secret_change_changes_the_redis_pod_template():
    spec = parse_spec(SPECS["redis-default"])
    one = redis.stateful_set(OWNER, spec, "churn-redis", "a", "redis:7-alpine")["spec"]["template"]["metadata"]["annotations"]
    two = redis.stateful_set(OWNER, spec, "churn-redis", "b", "redis:7-alpine")["spec"]["template"]["metadata"]["annotations"]
    assert one != two


def test_backfill_identity_follows_the_store_the_repo_and_the_stores_generation_not_the_schedule():
    spec = parse_spec(SPECS["redis-default"])
    store = target_of(redis.record(OWNER, spec))
    base = materialization.backfill_identity(spec, store, RUNTIME, 1)
    rescheduled = parse_spec({**SPECS["redis-default"], "materialization": {"schedule": "@daily"}})
    assert materialization.backfill_identity(rescheduled, store, RUNTIME, 1) == base
    moved = parse_spec({**SPECS["redis-default"], "offlineStore": {"path": "s3://elsewhere"}})
    assert materialization.backfill_identity(moved, store, RUNTIME, 1) != base
    # the same store re-created at a later generation is backfilled again
    assert materialization.backfill_identity(spec, store, RUNTIME, 4) != base


LONGEST = Owner("f" * 63, "ml", "uid")


def test_every_child_name_and_label_fits_for_the_longest_valid_name():
    spec = parse_spec(SPECS["redis-replicas"])
    name = redis.instance(LONGEST, spec)
    store = target_of(redis.record(LONGEST, spec))
    docs = [
        redis.password_secret(LONGEST, name, PASSWORDS), redis.acl_secret(LONGEST, name, PASSWORDS), redis.config_map(LONGEST, spec, name), *redis.services(LONGEST, name),
        redis.stateful_set(LONGEST, spec, name, "c", "redis:7-alpine"), feast_config.config_map(LONGEST, spec, store),
        materialization.backfill_job(LONGEST, spec, store, RUNTIME, "0123456789"),
        materialization.cron_job(LONGEST, spec, store, RUNTIME, "c"), serving.deployment(LONGEST, spec, store, SERVING, "c"),
        serving.service(LONGEST), elasticache.auth_secret(LONGEST, elasticache.auth_secret_name(LONGEST, 64), "t", elasticache.replication_group_id(LONGEST, "c", 64), "c"),
    ]
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert len(set(names)) == len(names)
    # kinds that derive pod names and label values from their own name; Services are DNS labels
    limits = {"StatefulSet": MAX_CHILD_NAME, "Job": MAX_CHILD_NAME, "CronJob": MAX_CHILD_NAME, "Deployment": MAX_CHILD_NAME, "Service": 63}
    for doc in docs:
        assert len(doc["metadata"]["name"]) <= limits.get(doc["kind"], 253), doc["metadata"]["name"]
        for value in doc["metadata"]["labels"].values():
            assert len(value) <= 63, value


def test_short_names_stay_readable_and_long_ones_stay_distinct():
    assert child_name(OWNER, "redis") == "churn-redis"
    a, b = child_name(Owner("x" * 60 + "a", "ml", ""), "redis"), child_name(Owner("x" * 60 + "b", "ml", ""), "redis")
    assert a != b and a.endswith("-redis") and len(a) == MAX_CHILD_NAME


@pytest.mark.parametrize("namespace,name", [("ml", "churn"), ("a" * 60, "b" * 60), ("Team-X", "fs--1")])
def test_replication_group_ids_follow_elasticache_rules(namespace, name):
    for group in (elasticache.replication_group_id(Owner(name, namespace, "uid"), "cluster-a"), elasticache.legacy_replication_group_id(Owner(name, namespace, "uid"))):
        assert len(group) <= 40 and group[0].isalpha() and "--" not in group and not group.endswith("-")
        assert group == group.lower() and group.startswith(elasticache.ID_PREFIX)


def test_managed_elasticache_request():
    spec = parse_spec({"project": "churn", "onlineStore": {"type": "elasticache", "elasticache": {"nodeType": "cache.r7g.large", "replicas": 2, "subnetGroupName": "private", "securityGroupIds": ["sg-0123abcd"]}}})
    request = elasticache.create_request(OWNER, spec, "t" * 64, "pf-ml-churn-x", "cluster-a")
    assert request["CacheNodeType"] == "cache.r7g.large" and request["ReplicasPerNodeGroup"] == 2
    assert request["AutomaticFailoverEnabled"] is True and request["TransitEncryptionEnabled"] is True and request["AtRestEncryptionEnabled"] is True
    assert request["CacheSubnetGroupName"] == "private" and request["SecurityGroupIds"] == ["sg-0123abcd"]
    assert request["AuthToken"] == "t" * 64


def test_settings_a_statefulset_cannot_change_in_place_name_another_redis_instance():
    base = parse_spec(SPECS["redis-default"])
    assert redis.instance(OWNER, base) == "churn-redis"
    bigger = parse_spec({"project": "churn", "onlineStore": {"redis": {"persistence": {"size": "5Gi"}, "replicas": 2}}})
    assert redis.instance(OWNER, bigger) == "churn-redis"  # expanded or scaled in place
    moved = parse_spec({"project": "churn", "onlineStore": {"redis": {"persistence": {"storageClassName": "fast"}}}})
    ephemeral = parse_spec({"project": "churn", "onlineStore": {"redis": {"persistence": {"enabled": False, "storageClassName": "fast"}}}})
    names = {redis.instance(OWNER, s) for s in (base, moved, ephemeral)}
    assert len(names) == 3 and all(n.startswith("churn-redis") for n in names)
    # two instances side by side select only their own pods
    a, b = (redis.stateful_set(OWNER, s, redis.instance(OWNER, s), "c", "redis:7-alpine")["spec"]["selector"]["matchLabels"] for s in (base, moved))
    assert a != b


def test_quantities_compare_by_value():
    from predictflow_operator.quantity import parse_quantity

    assert parse_quantity("1Gi") < parse_quantity("2Gi") and parse_quantity("1024Mi") == parse_quantity("1Gi")
    assert parse_quantity("1G") < parse_quantity("1Gi") and parse_quantity("500m") < 1


def test_a_switchs_backfill_reads_the_serving_store_through_its_compare_config():
    spec = parse_spec(SPECS["elasticache-existing"])
    new = target_of(elasticache.existing_record(spec.online_store.elasticache))
    serving = target_of(redis.record(OWNER, parse_spec(SPECS["redis-default"])))
    job = materialization.backfill_job(OWNER, spec, new, RUNTIME, "0123456789", compare=serving)
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["PREDICTFLOW_COMPARE_CONFIG"]["value"] == "/etc/predictflow/compare/compare.yaml"
    assert env["PREDICTFLOW_COMPARE_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "churn-redis-auth", "key": "serving-password"}}
    assert env["PREDICTFLOW_COMPARE_USERNAME"]["value"] == "serving"  # the serving store is only read
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "churn-ec"  # the new store's own
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["compare-config"]["configMap"]["name"] == feast_config.config_map_name(OWNER, serving)
    compare = yaml.safe_load(feast_config.config_map(OWNER, spec, new)["data"]["compare.yaml"])
    assert compare["online_store"]["connection_string"] == (
        "master.churn.cache.amazonaws.com:6379,ssl=true,ssl_ca_certs=/etc/predictflow/compare-tls/ca.crt,password=${PREDICTFLOW_COMPARE_PASSWORD_AS_JSON}"
    )
    first = materialization.backfill_job(OWNER, spec, new, RUNTIME, "0123456789")
    assert "PREDICTFLOW_COMPARE_CONFIG" not in {e["name"] for e in first["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_a_parallel_backfill_is_an_indexed_job_whose_pods_know_the_slice_count():
    store = target_of(redis.record(OWNER, parse_spec(SPECS["redis-default"])))
    single = materialization.backfill_job(OWNER, parse_spec(SPECS["redis-default"]), store, RUNTIME, "0123456789")["spec"]
    assert "completionMode" not in single and "completions" not in single
    assert "PREDICTFLOW_BACKFILL_SLICES" not in {e["name"] for e in single["template"]["spec"]["containers"][0]["env"]}

    spec = parse_spec({**SPECS["redis-default"], "materialization": {"backfillParallelism": 4}})
    job = materialization.backfill_job(OWNER, spec, store, RUNTIME, "0123456789")["spec"]
    assert (job["completionMode"], job["completions"], job["parallelism"]) == ("Indexed", 4, 4)
    env = {e["name"]: e for e in job["template"]["spec"]["containers"][0]["env"]}
    assert env["PREDICTFLOW_BACKFILL_SLICES"]["value"] == "4"
    assert materialization.backfill_identity(spec, store, RUNTIME, 1) == materialization.backfill_identity(
        parse_spec(SPECS["redis-default"]), store, RUNTIME, 1
    ), "a running backfill is not restarted for a new pod count"
