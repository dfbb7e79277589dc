{{- define "predictflow-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "predictflow-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "predictflow-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "predictflow-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "predictflow-operator.labels" -}}
{{ include "predictflow-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "predictflow-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "predictflow-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {repository, tag}; the tag defaults to the chart's appVersion. */}}
{{- define "predictflow-operator.image" -}}
{{- printf "%s:%s" .image.repository (default .context.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/*
The permissions the operator uses in each namespace it watches; the same list as
operator/predictflow_operator/rbac.py (NAMESPACED), which the chart's tests compare it with.
*/}}
{{- define "predictflow-operator.namespacedRules" -}}
- apiGroups: [predictflow.io]
  resources: [featurestores]
  verbs: [list, watch, patch]
- apiGroups: [predictflow.io]
  resources: [featurestores/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
- apiGroups: [""]
  resources: [secrets]
  verbs: [create, get, patch, delete, list, watch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, patch, get, list, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [create, patch, get, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [statefulsets, deployments]
  verbs: [create, patch, get, list, watch, delete]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [create, patch, get]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [create, patch, get, list, watch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [create, patch, get, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [create, patch, get, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [create, patch, get, delete]
{{- end -}}

{{/* Cluster-wide mode only (rbac.py CLUSTER_WIDE_ONLY): kopf observes CRDs at run time. */}}
{{- define "predictflow-operator.clusterWideRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end -}}
