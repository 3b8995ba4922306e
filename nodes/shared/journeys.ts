/** The runtime's one directory of deployed journeys, shared by every event-in node. */
import { JourneyDirectory } from '../../lib/index.js';

export const journeys = new JourneyDirectory();
