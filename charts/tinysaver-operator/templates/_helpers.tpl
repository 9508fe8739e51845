{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "tinysaver.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: the release name, plus the chart name unless the release already contains it. */}}
{{- define "tinysaver.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tinysaver.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tinysaver.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tinysaver.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "tinysaver.labels" -}}
helm.sh/chart: {{ include "tinysaver.chart" . }}
{{ include "tinysaver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tinysaver
{{- end }}

{{- define "tinysaver.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tinysaver.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Namespace the operator watches in namespaced mode. */}}
{{- define "tinysaver.watchNamespace" -}}
{{- default .Release.Namespace .Values.namespaced.namespace }}
{{- end }}

{{- define "tinysaver.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
RBAC rules for ModelCascades and the objects reconciled from them: exactly the verbs operator/ uses.
Informers list+watch (owned kinds filtered by label); writes are server-side apply (PATCH; creating an
object that way also needs create); objects a spec change removes are deleted; status is applied to the
status subresource; Events are created; pods are watched (their failures go into status) and listed by
the threshold controller (the router pods it scrapes).
No get/update: the operator reads from its informer caches. test/e2e/helm-install.test.ts runs the
operator under exactly these rules and checks that broader verbs are refused.
*/}}
{{- define "tinysaver.workloadRules" -}}
- apiGroups: ["tinysaver.io"]
  resources: ["modelcascades"]
  verbs: ["list", "watch"]
- apiGroups: ["tinysaver.io"]
  resources: ["modelcascades/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["configmaps", "services"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  # patch: the operator annotates router pods after a ConfigMap change, so the kubelet
  # refreshes the mounted file at once instead of at its next periodic sync (operator/reconcile/router-nudge.ts)
  verbs: ["list", "watch", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Leader election Lease, only in the operator's own namespace. */}}
{{- define "tinysaver.leaseRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}
