export const floorActivities = {
  noop(): Promise<void> {
    return Promise.resolve();
  },
};
export type FloorActivities = typeof floorActivities;
