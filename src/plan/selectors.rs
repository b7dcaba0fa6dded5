//! Expanding jobs that select their containers by label into one job per
//! matched container.
//!
//! Only the engine can tell which running containers carry a set of
//! labels, so this stage sits between validation and planning and queries it
//! once, read-only, before any step runs. A job `web` that matches `a` and
//! `b` becomes the jobs `web[a]` and `web[b]`. A job that depends on `web`
//! then depends on both, and `{container}` in `restore.new_name` becomes
//! each match's name. A selector that matches nothing is an error, because
//! a plan that silently does nothing for a job is worse than one that stops.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use miette::{Diagnostic, SourceSpan};
use thiserror::Error;

use super::error::{PlanError, PlanErrors};
use super::load::LoadedPlan;
use super::validate::{ValidPlan, CONTAINER_PLACEHOLDER};
use crate::docker::{DockerError, Engine};

/// The engine call this stage needs, behind a trait for tests.
pub trait ContainerLister {
    /// Lists the names of the running containers that carry every label.
    fn running_with_labels(&self, labels: &BTreeMap<String, String>) -> impl Future<Output = Result<Vec<String>, DockerError>> + Send;
}

impl ContainerLister for Engine {
    async fn running_with_labels(&self, labels: &BTreeMap<String, String>) -> Result<Vec<String>, DockerError> {
        self.running_containers_with_labels(labels).await
    }
}

#[derive(Debug, Error, Diagnostic)]
pub enum ExpandError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanErrors),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
}

/// Returns whether any job selects its containers by label.
pub fn has_selectors(plan: &ValidPlan) -> bool {
    plan.jobs.iter().any(|job| job.selector.is_some())
}

/// Replaces each selector job by one job per matched container.
pub async fn expand(loaded: &LoadedPlan, plan: ValidPlan, lister: &impl ContainerLister) -> Result<ValidPlan, ExpandError> {
    let mut matches: HashMap<String, Vec<String>> = HashMap::new();
    let mut problems = Vec::new();
    for (index, job) in plan.jobs.iter().enumerate() {
        let Some(labels) = &job.selector else { continue };
        let names = lister.running_with_labels(labels).await?;
        if names.is_empty() {
            let path = format!("spec.jobs[{index}].selector");
            problems.push(PlanError::NoMatch {
                job: job.name.clone(),
                labels: labels.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join(", "),
                span: loaded.positions.nearest(&path).unwrap_or_else(|| SourceSpan::new(0.into(), 0)),
            });
        }
        matches.insert(job.name.clone(), names);
    }
    if !problems.is_empty() {
        return Err(loaded.errors(problems).into());
    }

    let expanded_name = |job: &str, container: &str| format!("{job}[{container}]");
    let mut jobs = Vec::new();
    for job in plan.jobs {
        let Some(containers) = matches.get(&job.name) else {
            jobs.push(job);
            continue;
        };
        for container in containers {
            let mut one = job.clone();
            one.name = expanded_name(&job.name, container);
            one.container = Some(container.clone());
            one.selector = None;
            one.new_name = job.new_name.as_ref().map(|name| name.replace(CONTAINER_PLACEHOLDER, container));
            jobs.push(one);
        }
    }
    for job in &mut jobs {
        job.depends_on = job
            .depends_on
            .iter()
            .flat_map(|dependency| match matches.get(dependency) {
                Some(containers) => containers.iter().map(|container| expanded_name(dependency, container)).collect(),
                None => vec![dependency.clone()],
            })
            .collect();
        job.rehash();
    }
    Ok(ValidPlan { jobs, ..plan })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::planner::plan_steps;
    use crate::plan::{load, validate};
    use std::path::Path;

    /// Matches `tier=web` with two containers and anything else with none.
    struct TwoWebContainers;

    impl ContainerLister for TwoWebContainers {
        async fn running_with_labels(&self, labels: &BTreeMap<String, String>) -> Result<Vec<String>, DockerError> {
            if labels.get("tier").map(String::as_str) == Some("web") {
                Ok(vec!["web-a".into(), "web-b".into()])
            } else {
                Ok(Vec::new())
            }
        }
    }

    fn loaded(jobs: &str) -> LoadedPlan {
        let text = format!("apiVersion: docker-cr/v1\nkind: Plan\nmetadata:\n  name: test\nspec:\n  defaults:\n    output: /cp\n  jobs:\n{jobs}");
        load::parse(Path::new("plan.yaml"), text).expect("plan parses")
    }

    async fn expanded(jobs: &str) -> Result<ValidPlan, ExpandError> {
        let loaded = loaded(jobs);
        let valid = validate::validate(&loaded).expect("plan is valid");
        expand(&loaded, valid, &TwoWebContainers).await
    }

    #[tokio::test]
    async fn one_job_per_match() {
        let plan = expanded(
            "    - name: web\n      action: migrate\n      selector: {tier: web}\n      restore: {new_name: '{container}-2'}\n    - name: after\n      action: checkpoint\n      container: db\n      depends_on: [web]\n",
        )
        .await
        .expect("selector expands");
        let names: Vec<&str> = plan.jobs.iter().map(|job| job.name.as_str()).collect();
        assert_eq!(names, vec!["web[web-a]", "web[web-b]", "after"]);
        assert_eq!(plan.jobs[1].container.as_deref(), Some("web-b"));
        assert_eq!(plan.jobs[1].new_name.as_deref(), Some("web-b-2"));
        assert_eq!(plan.jobs[2].depends_on, vec!["web[web-a]", "web[web-b]"]);
        assert_ne!(plan.jobs[0].hash, plan.jobs[1].hash);

        let graph = plan_steps(&plan);
        let ids: Vec<&str> = graph.steps().map(|step| step.id.as_str()).collect();
        assert_eq!(ids[0], "web[web-a]/preflight");
        assert_eq!(ids.last().copied(), Some("after/checkpoint"));
    }

    #[tokio::test]
    async fn selector_without_match_is_an_error() {
        let error = expanded("    - name: db\n      action: checkpoint\n      selector:\n        tier: db\n").await.unwrap_err();
        let ExpandError::Plan(errors) = error else { panic!("expected a plan error") };
        assert_eq!(errors.problems.len(), 1);
        assert_eq!(errors.problems[0].to_string(), "job `db`: the selector tier=db matches no running container");
        let PlanError::NoMatch { span, .. } = &errors.problems[0] else { panic!("expected NoMatch") };
        assert_eq!(span.offset(), loaded("    - name: db\n      action: checkpoint\n      selector:\n        tier: db\n").text.find("selector").unwrap());
    }
}
