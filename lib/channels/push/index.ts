/** The push channel: tokens from the profile, FCM through firebase-admin, and forgetting dead tokens. */
export { MAX_PUSH_TOKENS, PUSH_TOKEN_IDENTITY, pushTokens } from './address.js';
export { EndpointAgent, endpointAgent, parseEndpoint } from './endpoint.js';
export { classifyFcmError, fcmMessage, fcmOutcome, fcmProvider, type FcmAccount, type PushContent, type TokenVerdict } from './fcm.js';
export { checkServiceAccount, type ServiceAccountCheck, type ServiceAccountJson, type ServiceAccountProblem } from './service-account.js';
export { removePushTokens } from './tokens.js';
export { pushChannel, type PushField } from './channel.js';
