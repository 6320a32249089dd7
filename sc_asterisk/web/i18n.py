"""The console's labels in English and French; the language comes from ``?lang=``, then the
``sc_lang`` cookie, then the browser's Accept-Language, else English."""
from __future__ import annotations

from fastapi import Request

LANGUAGES = ("en", "fr")
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Voice broadcast", "login": "Log in", "logout": "Log out",
        "username": "User name", "password": "Password",
        "wrong_login": "Wrong user name or password.",
        "campaigns": "Campaigns", "campaign": "Campaign", "status": "Status",
        "progress": "Progress", "done": "done", "total": "attempts", "in_flight": "in flight",
        "answered": "answered", "opted_out": "opted out", "outcomes": "Outcomes",
        "outcome": "Outcome", "count": "Calls", "states": "Attempts by state",
        "state": "State", "start": "Start", "pause": "Pause", "resume": "Resume",
        "cancel": "Cancel", "confirm_cancel": "Cancel this campaign? It cannot be undone.",
        "previous": "Previous", "next": "Next", "no_campaign": "No campaign yet.",
        "live": "live", "updated": "updated", "forbidden": "Not allowed",
        "error": "Error", "back": "Back", "script": "Script", "segment": "Segment",
        "audio": "Audio", "cps": "calls/s at most", "channels": "channels at most",
        "draft": "draft", "running": "running", "paused": "paused", "completed": "completed",
        "cancelled": "cancelled",
        "new_campaign": "New campaign", "upload_audio": "Upload audio", "audio_name": "Name",
        "file": "File", "upload": "Upload", "uploaded": "uploaded", "settings": "Settings",
        "name": "Name", "message": "Message", "notice": "Privacy notice",
        "optout_intro": "Opt-out intro", "profile": "Compliance profile", "trunk": "Trunk",
        "caller_id": "Caller ID", "windows": "Calling windows (one per line or ;)",
        "create": "Create", "audience": "Audience", "filters": "Filters (KEY=VALUE, one a line)",
        "would_be_queued": "contacts match", "queue": "Queue", "queued": "queued",
        "report": "Report", "dialled": "dialled", "heard_min": "heard at least",
        "heard_full": "heard the whole message", "retention": "Retention curve",
        "calls_per_s": "calls/s now", "listen_rate": "listen rate %",
        "calls_per_s_def": "Calls/s: attempts dialed per second over the last 10 s.",
        "listen_rate_def": "Listen rate: % of answered callees who heard at least {s} s of "
                           "the message (the report's heard_min_rate).",
        "cdr_export": "CDR export",
        "contacts": "Contacts", "telecom": "Nodes and trunks", "import_contacts": "Import a file",
        "list": "List", "legal_basis": "Legal basis", "region": "Country of numbers without +",
        "import": "Import", "import_rows": "rows", "import_created": "created",
        "import_updated": "updated", "import_unchanged": "unchanged",
        "import_rejected": "rejected", "rejected_rows": "Rejected rows", "line": "Line",
        "reason": "Reason", "detail": "Detail", "running_import": "importing",
        "complete": "complete", "failed": "failed", "nodes": "Nodes", "node": "Node",
        "ami_state": "AMI now", "channels_up": "channels up", "trunks": "Trunks",
        "host": "Host", "registration": "Registration", "no_registration": "does not register",
        "disabled": "disabled", "no_node": "No node yet.", "no_trunk": "No trunk yet.",
        "up": "up", "down": "down",
        "state_definition": "Asked of each node now (at most every 5 s): whether its AMI logs "
                            "in, its channels up (all of them), each trunk's registration.",
        "since": "From", "until": "Until", "format": "Format", "download": "Download",
        "clear_numbers": "Clear numbers (audited)",
        "pseudonymised": "Numbers are pseudonymised unless clear numbers are asked for.",
        "listen_definition": "Listen rate: answered calls whose callee listened N s or more "
                             "of the message, over answered calls.",
    },
    "fr": {
        "title": "Diffusion vocale", "login": "Se connecter", "logout": "Se déconnecter",
        "username": "Identifiant", "password": "Mot de passe",
        "wrong_login": "Identifiant ou mot de passe incorrect.",
        "campaigns": "Campagnes", "campaign": "Campagne", "status": "État",
        "progress": "Avancement", "done": "terminés", "total": "tentatives",
        "in_flight": "en cours", "answered": "décrochés", "opted_out": "oppositions",
        "outcomes": "Issues", "outcome": "Issue", "count": "Appels",
        "states": "Tentatives par état", "state": "État", "start": "Démarrer",
        "pause": "Suspendre", "resume": "Reprendre", "cancel": "Annuler",
        "confirm_cancel": "Annuler cette campagne ? C'est définitif.",
        "previous": "Précédent", "next": "Suivant", "no_campaign": "Aucune campagne.",
        "live": "en direct", "updated": "mis à jour", "forbidden": "Non autorisé",
        "error": "Erreur", "back": "Retour", "script": "Script", "segment": "Segment",
        "audio": "Son", "cps": "appels/s au plus", "channels": "canaux au plus",
        "draft": "brouillon", "running": "en cours", "paused": "suspendue",
        "completed": "terminée", "cancelled": "annulée",
        "new_campaign": "Nouvelle campagne", "upload_audio": "Envoyer un son",
        "audio_name": "Nom", "file": "Fichier", "upload": "Envoyer", "uploaded": "envoyé",
        "settings": "Paramètres", "name": "Nom", "message": "Message",
        "notice": "Mentions d'information", "optout_intro": "Annonce d'opposition",
        "profile": "Profil de conformité", "trunk": "Trunk", "caller_id": "Numéro présenté",
        "windows": "Plages d'appel (une par ligne ou ;)", "create": "Créer",
        "audience": "Audience", "filters": "Filtres (CLÉ=VALEUR, un par ligne)",
        "would_be_queued": "contacts correspondent", "queue": "Mettre en file",
        "queued": "en file", "report": "Rapport", "dialled": "composés",
        "heard_min": "écouté au moins", "heard_full": "message écouté en entier",
        "retention": "Courbe de rétention", "cdr_export": "Export des CDR",
        "calls_per_s": "appels/s maintenant", "listen_rate": "taux d'écoute %",
        "calls_per_s_def": "Appels/s : tentatives composées par seconde sur les 10 dernières "
                           "secondes.",
        "listen_rate_def": "Taux d'écoute : % des appelés ayant décroché qui ont écouté au "
                           "moins {s} s du message (heard_min_rate du rapport).",
        "contacts": "Contacts", "telecom": "Nœuds et trunks",
        "import_contacts": "Importer un fichier", "list": "Liste",
        "legal_basis": "Base légale", "region": "Pays des numéros sans +",
        "import": "Importer", "import_rows": "lignes", "import_created": "créés",
        "import_updated": "mis à jour", "import_unchanged": "inchangés",
        "import_rejected": "rejetés", "rejected_rows": "Lignes rejetées", "line": "Ligne",
        "reason": "Motif", "detail": "Détail", "running_import": "import en cours",
        "complete": "terminé", "failed": "échoué", "nodes": "Nœuds", "node": "Nœud",
        "ami_state": "AMI maintenant", "channels_up": "canaux actifs", "trunks": "Trunks",
        "host": "Hôte", "registration": "Enregistrement",
        "no_registration": "ne s'enregistre pas", "disabled": "désactivé",
        "no_node": "Aucun nœud.", "no_trunk": "Aucun trunk.", "up": "joignable",
        "down": "injoignable",
        "state_definition": "Demandé à chaque nœud maintenant (au plus toutes les 5 s) : "
                            "connexion AMI, canaux actifs (tous), enregistrement de chaque trunk.",
        "since": "Du", "until": "Au", "format": "Format", "download": "Télécharger",
        "clear_numbers": "Numéros en clair (journalisé)",
        "pseudonymised": "Les numéros sont pseudonymisés sauf demande de numéros en clair.",
        "listen_definition": "Taux d'écoute : appels décrochés dont l'appelé a écouté au moins "
                             "N s du message, sur les appels décrochés.",
    },
}


def language(request: Request) -> str:
    """The page's language. Example: ``language(request) == "fr"``"""
    for value in (request.query_params.get("lang"), request.cookies.get("sc_lang")):
        if value in LANGUAGES:
            return value
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def labels(lang: str) -> dict[str, str]:
    """The labels of *lang*; a key missing in one language falls back to English."""
    return {**LABELS["en"], **LABELS.get(lang, {})}
